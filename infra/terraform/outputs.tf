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
  value = google_service_account.governor.email
}

output "tenant_publishers" {
  description = "Each listed tenant's publisher identity (the IAM member with roles/pubsub.publisher on its topic alone)."
  value       = local.tenant_publisher_members
}
