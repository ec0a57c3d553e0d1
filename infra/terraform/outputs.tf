output "url" {
  description = "The service's URL (webhooks: <url>/v1/marketplace/events)."
  value       = google_cloud_run_v2_service.governor.uri
}

output "archive_bucket" {
  value = google_storage_bucket.archives.name
}

output "policy_bucket" {
  value = google_storage_bucket.policies.name
}

output "service_account" {
  description = "The runtime's identity; with Google Cloud Marketplace, link it in Producer Portal (Billing integration) to call the Procurement API, to subscribe to the Pub/Sub topic and for Service Control."
  value       = google_service_account.governor.email
}

output "tenant_publishers" {
  description = "Each listed tenant's publisher identity (the IAM member with roles/pubsub.publisher on its topic alone)."
  value       = local.tenant_publisher_members
}

output "marketplace_signup_url" {
  description = "Google Cloud Marketplace: the sign-up URL to enter in Producer Portal (null without a provider id)."
  value       = local.marketplace ? "${google_cloud_run_v2_service.governor.uri}/v1/marketplace/signup" : null
}

output "procurement_subscription" {
  description = "The subscription the service consumes procurement events from: on Marketplace's topic with a provider id, else on procurement_topic."
  value       = local.marketplace ? google_pubsub_subscription.marketplace[0].name : google_pubsub_subscription.procurement[0].name
}
