# Governor on Google Cloud: Cloud Run running `governor serve --backend gcp`,
# Firestore (the ledgers), Pub/Sub (signals and procurement events, with
# dead-lettering), Cloud Storage (archives under a retention policy, and the
# policy registry), Secret Manager (webhook secret, signing key, tokens) and
# the service account with the roles it needs; with a Marketplace provider id,
# the subscription to Google Cloud Marketplace's procurement topic and what
# the Partner Procurement API and Service Control need.

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
  }
  # Google Cloud Marketplace publishes a partner's procurement notifications
  # to a topic in its own project, named after the provider id.
  marketplace       = var.marketplace_provider_id != ""
  marketplace_topic = "projects/cloudcommerceproc-prod/topics/${var.marketplace_provider_id}"
  usage_billing     = local.marketplace && var.marketplace_service_name != ""
  governor_email    = "${var.service_name}@${var.project}.iam.gserviceaccount.com"
}

# The Partner Procurement API (entitlements, accounts, approvals) and Service
# Control (usage reports) are enabled only for a Marketplace product: a
# deployment that takes the signed webhook alone calls neither.
resource "google_project_service" "apis" {
  for_each = toset(concat([
    "cloudresourcemanager.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "firestore.googleapis.com",
    "pubsub.googleapis.com",
    "storage.googleapis.com",
    "secretmanager.googleapis.com",
    ],
    local.marketplace ? ["cloudcommerceprocurement.googleapis.com"] : [],
    local.usage_billing ? ["servicecontrol.googleapis.com"] : [],
  ))
  service            = each.value
  disable_on_destroy = false
}

# ---- identity --------------------------------------------------------------

resource "google_service_account" "governor" {
  account_id   = var.service_name
  display_name = "Governor runtime"
  depends_on   = [google_project_service.apis]
}

# Firestore: read and write the ledgers.
resource "google_project_iam_member" "datastore_user" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.governor.member
}

# Pub/Sub: provisioning creates (and cancellation deletes) each tenant's topic
# `tenants.{account}.signals`, its subscription and its dead-letter topic at run
# time, so the runtime needs roles/pubsub.editor on the project: topics that do
# not exist yet cannot be granted one by one.
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
  name                              = "(default)"
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC" # receipts are written with create(): a second writer fails, nobody waits on a lock
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  deletion_policy                   = "ABANDON" # the ledgers are the source of truth: never deleted with the stack
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  depends_on                        = [google_project_service.apis]
}

# Large text the runtime never queries by is kept out of the single-field
# indexes: each indexed value costs write work on every append, and strings
# over 1,500 bytes are truncated in an index anyway. `seq` stays indexed (the
# head and every read are queries on it); so does a checkpoint's `size`.
locals {
  unindexed_fields = {
    receipt_body    = { collection = "receipts", field = "body" }
    receipt_hash    = { collection = "receipts", field = "hash" }
    checkpoint_note = { collection = "checkpoints", field = "note" }
    snapshot_state  = { collection = "meta", field = "state" }
  }
}

resource "google_firestore_field" "unindexed" {
  for_each   = local.unindexed_fields
  database   = google_firestore_database.ledgers.name
  collection = each.value.collection
  field      = each.value.field
  # An empty index_config removes the automatic single-field indexes of this field (collection group).
  index_config {}
}

# ---- Cloud Storage ----------------------------------------------------------

# Archives of cancelled tenants (objects `archives/{account}-{size}-{time}.tar.gz`):
# the runtime creates each with ifGenerationMatch=0, so none is ever replaced,
# and the retention policy keeps each from deletion for archive_retention_days.
# Versioning is off: an archive has one version.
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
    is_locked        = var.lock_archive_retention
  }
  depends_on = [google_project_service.apis]
}

# The policy registry (objects `policies/{sku}/{version}.json` and
# `policies/{sku}/CURRENT`), in a bucket of its own: every version is created
# with ifGenerationMatch=0 and never changes, but CURRENT is replaced on each
# push, which a retention policy (the archive bucket's) would refuse.
# Versioning keeps the history of CURRENT.
resource "google_storage_bucket" "policies" {
  name                        = "${var.project}-${var.service_name}-policies"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  depends_on = [google_project_service.apis]
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
# Without a Marketplace provider id, procurement events (full events, as the
# signed webhook carries them) arrive on a topic of this project, for relays
# and tests. With one, they are Google Cloud Marketplace's notifications, on
# Google's topic (below), and this project's topic is not made.

resource "google_pubsub_topic" "procurement" {
  count      = local.marketplace ? 0 : 1
  name       = var.procurement_topic
  depends_on = [google_project_service.apis]
}

moved {
  from = google_pubsub_topic.procurement
  to   = google_pubsub_topic.procurement[0]
}

resource "google_pubsub_topic" "procurement_dead_letter" {
  name       = "${var.procurement_topic}.dead-letter"
  depends_on = [google_project_service.apis]
}

resource "google_pubsub_subscription" "procurement_dead_letter_keep" {
  name                       = "${var.procurement_topic}.dead-letter.keep"
  topic                      = google_pubsub_topic.procurement_dead_letter.id
  message_retention_duration = "604800s"
}

resource "google_pubsub_subscription" "procurement" {
  count                = local.marketplace ? 0 : 1
  name                 = "${var.service_name}-procurement"
  topic                = google_pubsub_topic.procurement[0].id
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

moved {
  from = google_pubsub_subscription.procurement
  to   = google_pubsub_subscription.procurement[0]
}

# ---- Google Cloud Marketplace ----------------------------------------------
# Google's "Configure your app's backend" (Producer Portal, Technical
# integration > Billing integration) links the partner's service accounts:
# one to call the Procurement API, one to subscribe to the Pub/Sub topic
# (granted Pub/Sub Editor; the runtime has it on the project, above) and one
# granted roles/servicemanagement.serviceController for Service Control. Link
# this module's service account (output `service_account`) in all three
# there: access to the Procurement API is given by that link, not by a role
# this project can grant (the API checks
# commerceprocurement.providerEntitlements.* on providers/PROVIDER_ID).
#
# The subscription lives in this project, on Google's topic. Attaching it
# needs the subscriber grant the link gives the service account, so it is
# created as that account (provider google.marketplace impersonates it):
# whoever applies needs roles/iam.serviceAccountTokenCreator on it, and the
# account must exist and be linked before this is applied (README.md).
#
# A notification is nacked while the entitlement's account has not signed up
# yet (held back, as Google's codelab orders them) and while the Procurement
# API does not answer, so deliveries are spread up to 10 minutes apart and
# dead-lettered only after var.marketplace_max_delivery_attempts. What is
# dead-lettered is not lost: the reconciliation sweep reads every entitlement
# from the API and corrects the governors.

resource "google_pubsub_subscription" "marketplace" {
  count                = local.marketplace ? 1 : 0
  provider             = google.marketplace
  project              = var.project
  name                 = "${var.service_name}-marketplace"
  topic                = local.marketplace_topic
  ack_deadline_seconds = 60
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.procurement_dead_letter.id
    max_delivery_attempts = var.marketplace_max_delivery_attempts
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
  depends_on = [google_project_iam_member.pubsub_editor]
}

# Service Control: check and report usage against the product's service.
# Google's Service Control access-control guide: a multi-tenant service gets
# roles/servicemanagement.serviceController at the managed-service level.
# Producer Portal's Billing integration can make the same grant; turn this
# off (var.grant_service_controller) when the service's IAM policy is not
# yours to change.
resource "google_endpoints_service_iam_member" "service_controller" {
  count        = local.usage_billing && var.grant_service_controller ? 1 : 0
  service_name = var.marketplace_service_name
  role         = "roles/servicemanagement.serviceController"
  member       = google_service_account.governor.member
}

# ---- Pub/Sub: tenants' publishers ------------------------------------------
# A signal's tenant is the topic it arrives on (`tenants.{account}.signals`),
# never a field of the message, so what a tenant can publish to is what it can
# act on: each tenant's publisher identity gets roles/pubsub.publisher on that
# tenant's topic alone, and nothing on the project.
#
# `tenant_publishers` lists the tenants. A tenant without an entry in
# `tenant_publisher_members` gets a service account made here, named
# `gov-t-<first 24 hex digits of SHA-256(account)>@PROJECT.iam.gserviceaccount.com`
# (a service account id is 6 to 30 characters: an account id, up to 128, does
# not fit, so its hash names it: in a shell,
# `printf 'gov-t-%s' "$(printf '%s' ACCOUNT | sha256sum | cut -c1-24)"`). A tenant
# that publishes with an identity of its own (a service account in its own
# project) names it in `tenant_publisher_members` instead.
#
# The runtime creates a tenant's topic when the tenant is provisioned: apply
# this after provisioning (a grant on a topic that does not exist yet fails),
# and remove the tenant from the list after it is cancelled (its topic is
# deleted with it).

locals {
  tenant_publisher_ids = {
    for account in var.tenant_publishers : account => "gov-t-${substr(sha256(account), 0, 24)}"
    if !contains(keys(var.tenant_publisher_members), account)
  }
  tenant_publisher_members = merge(
    { for account, sa in google_service_account.tenant_publisher : account => sa.member },
    { for account, member in var.tenant_publisher_members : account => member if contains(var.tenant_publishers, account) },
  )
}

resource "google_service_account" "tenant_publisher" {
  for_each     = local.tenant_publisher_ids
  account_id   = each.value
  display_name = substr("Governor signals of ${each.key}", 0, 100)
  description  = substr("Publishes tenant ${each.key}'s signals to its topic tenants.${each.key}.signals, and nothing else.", 0, 256)
  depends_on   = [google_project_service.apis]
}

resource "google_pubsub_topic_iam_member" "tenant_publisher" {
  for_each = local.tenant_publisher_members
  project  = var.project
  topic    = "tenants.${each.key}.signals"
  role     = "roles/pubsub.publisher"
  member   = each.value
}

# ---- Secret Manager ------------------------------------------------------
# The secrets exist here; their values never do (nor in the state). Add a
# version of each out of band before the service is created (README.md):
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
# Exactly one instance, always on: the governor host is the single writer of
# each tenant's ledger, and its deadlines, health probe and scaler run
# between requests. A second instance would not fork a ledger (Firestore
# refuses a second write of a seq, and the loser rebuilds), but the two would
# contend for every append: max_instance_count stays 1 until tenants are
# sharded between instances, which is not built.

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
      # The image's CMD, spelled out: the service on the Google Cloud backend.
      args = ["node", "src/cli/main.ts", "serve", "--backend", "gcp"]
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
        value = local.marketplace ? local.marketplace_topic : google_pubsub_topic.procurement[0].name
      }
      env {
        name  = "GOVERNOR_PROCUREMENT_SUBSCRIPTION"
        value = local.marketplace ? google_pubsub_subscription.marketplace[0].name : google_pubsub_subscription.procurement[0].name
      }
      # Google Cloud Marketplace; an empty setting is left out (the runtime's default is empty).
      dynamic "env" {
        for_each = {
          for name, value in {
            GOVERNOR_MARKETPLACE_PROVIDER_ID  = var.marketplace_provider_id
            GOVERNOR_MARKETPLACE_SERVICE_NAME = local.marketplace ? var.marketplace_service_name : ""
            GOVERNOR_SIGNUP_AUDIENCE          = local.marketplace ? var.signup_audience : ""
          } : name => value if value != ""
        }
        content {
          name  = env.key
          value = env.value
        }
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
      # The server listens once every governor is rebuilt from its ledger; give replay up to 5 minutes.
      startup_probe {
        period_seconds    = 10
        timeout_seconds   = 5
        failure_threshold = 30
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

  depends_on = [google_secret_manager_secret_iam_member.secrets, google_firestore_database.ledgers, google_endpoints_service_iam_member.service_controller]
}

# Marketplace webhooks, the Marketplace sign-up page's form post and tenants
# reach the service from outside Google Cloud; the service authenticates every
# call itself (Standard Webhooks signatures, the sign-up token's signature,
# bearer tokens with scopes), so Cloud Run lets anyone invoke it.
resource "google_cloud_run_v2_service_iam_member" "public" {
  count    = var.allow_unauthenticated ? 1 : 0
  name     = google_cloud_run_v2_service.governor.name
  location = google_cloud_run_v2_service.governor.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
