# Governor on Google Cloud: Cloud Run running `governor serve --backend gcp`,
# Firestore (the ledgers), Pub/Sub (signals and procurement events, with
# dead-lettering), Cloud Storage (archives under a retention policy, and the
# policy registry), Secret Manager (webhook secret, signing key, tokens) and
# the service account with the roles it needs.

data "google_project" "this" {}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  secrets = {
    webhook_secrets = "GOVERNOR_WEBHOOK_SECRETS"
    signing_keys    = "GOVERNOR_SIGNING_KEYS"
    admin_token     = "GOVERNOR_ADMIN_TOKEN"
    operator_token  = "GOVERNOR_OPERATOR_TOKEN"
    auditor_token   = "GOVERNOR_AUDITOR_TOKEN"
    gitops_token    = "GOVERNOR_GITOPS_TOKEN"
    tenant_token    = "GOVERNOR_TENANT_TOKEN"
  }
}

resource "google_project_service" "apis" {
  for_each           = toset(["run.googleapis.com", "firestore.googleapis.com", "pubsub.googleapis.com", "storage.googleapis.com", "secretmanager.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

# ---- identity --------------------------------------------------------------

resource "google_service_account" "governor" {
  account_id   = var.service_name
  display_name = "Governor runtime"
}

# Firestore: read and write the ledgers.
resource "google_project_iam_member" "datastore_user" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.governor.member
}

# Pub/Sub: provisioning creates and cancellation deletes each tenant's topic and
# subscriptions at run time, so the runtime administers Pub/Sub in the project.
resource "google_project_iam_member" "pubsub_editor" {
  project = var.project
  role    = "roles/pubsub.editor"
  member  = google_service_account.governor.member
}

resource "google_project_iam_member" "log_writer" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = google_service_account.governor.member
}

resource "google_project_iam_member" "metric_writer" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = google_service_account.governor.member
}

# The Pub/Sub service agent forwards dead letters: it publishes to dead-letter
# topics and acknowledges on the source subscriptions (project-wide, because
# tenants' subscriptions are created at run time).
resource "google_project_iam_member" "pubsub_agent_publisher" {
  project = var.project
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_project_iam_member" "pubsub_agent_subscriber" {
  project = var.project
  role    = "roles/pubsub.subscriber"
  member  = local.pubsub_agent
}

# ---- Firestore ------------------------------------------------------------

resource "google_firestore_database" "ledgers" {
  name                    = "(default)"
  location_id             = var.region
  type                    = "FIRESTORE_NATIVE"
  deletion_policy         = "ABANDON" # the ledgers are the source of truth: never deleted with the stack
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  depends_on              = [google_project_service.apis]
}

# ---- Cloud Storage ----------------------------------------------------------

# Archives of cancelled tenants: immutable for the retention period.
resource "google_storage_bucket" "archives" {
  name                        = "${var.project}-${var.service_name}-archives"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = false
  }
  retention_policy {
    retention_period = var.archive_retention_days * 86400
  }
}

# The policy registry: every pushed version (never overwritten: the runtime
# writes with ifGenerationMatch=0) and a CURRENT pointer per SKU, which is
# rewritten on each push, so this bucket has no retention policy.
resource "google_storage_bucket" "policies" {
  name                        = "${var.project}-${var.service_name}-policies"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
}

resource "google_storage_bucket_iam_member" "archives" {
  bucket = google_storage_bucket.archives.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.governor.member
}

resource "google_storage_bucket_iam_member" "policies" {
  bucket = google_storage_bucket.policies.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.governor.member
}

# ---- Pub/Sub: procurement events -------------------------------------------

resource "google_pubsub_topic" "procurement" {
  name       = var.procurement_topic
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_topic" "procurement_dead_letter" {
  name = "${var.procurement_topic}.dead-letter"
}

resource "google_pubsub_subscription" "procurement_dead_letter_keep" {
  name                       = "${var.procurement_topic}.dead-letter.keep"
  topic                      = google_pubsub_topic.procurement_dead_letter.id
  message_retention_duration = "604800s"
}

resource "google_pubsub_subscription" "procurement" {
  name                 = "${var.service_name}-procurement"
  topic                = google_pubsub_topic.procurement.id
  ack_deadline_seconds = 60
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.procurement_dead_letter.id
    max_delivery_attempts = var.dead_letter_max_attempts
  }
  retry_policy {
    minimum_backoff = "1s"
    maximum_backoff = "60s"
  }
}

# ---- Secret Manager ------------------------------------------------------
# The secrets exist here; their values never do. Add each version out of band:
#   printf '%s' "$VALUE" | gcloud secrets versions add governor-webhook-secrets --data-file=-

resource "google_secret_manager_secret" "secrets" {
  for_each  = local.secrets
  secret_id = "${var.service_name}-${replace(each.key, "_", "-")}"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "secrets" {
  for_each  = local.secrets
  secret_id = google_secret_manager_secret.secrets[each.key].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.governor.member
}

# ---- Cloud Run -------------------------------------------------------------
# One instance: the runtime is the single writer of each tenant's ledger.
# Two instances would not fork a ledger (Firestore refuses the second write of
# a seq, and the loser rebuilds), but they would compete for every append;
# scaling out needs tenants sharded between instances, which is not built.

resource "google_cloud_run_v2_service" "governor" {
  name     = var.service_name
  location = var.region
  ingress  = "INGRESS_TRAFFIC_ALL"

  template {
    service_account = google_service_account.governor.email
    scaling {
      min_instance_count = 1
      max_instance_count = 1
    }
    containers {
      image = var.image
      args  = ["serve", "--backend", "gcp"]
      ports {
        container_port = 8080
      }
      resources {
        limits = {
          cpu    = "2"
          memory = "1Gi"
        }
        cpu_idle = false # the health loop, deadlines and the scaler run between requests
      }
      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project
      }
      env {
        name  = "GOVERNOR_BACKEND"
        value = "gcp"
      }
      env {
        name  = "HOST"
        value = "0.0.0.0"
      }
      env {
        name  = "GOVERNOR_ARCHIVE_BUCKET"
        value = google_storage_bucket.archives.name
      }
      env {
        name  = "GOVERNOR_POLICY_BUCKET"
        value = google_storage_bucket.policies.name
      }
      env {
        name  = "GOVERNOR_PROCUREMENT_TOPIC"
        value = google_pubsub_topic.procurement.name
      }
      env {
        name  = "GOVERNOR_PROCUREMENT_SUBSCRIPTION"
        value = google_pubsub_subscription.procurement.name
      }
      dynamic "env" {
        for_each = local.secrets
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secrets[env.key].secret_id
              version = "latest"
            }
          }
        }
      }
      startup_probe {
        http_get {
          path = "/healthz"
        }
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.secrets, google_firestore_database.ledgers]
}
