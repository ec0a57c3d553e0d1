variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of Cloud Run, the buckets and Firestore."
  type        = string
  default     = "europe-west1"
}

variable "image" {
  description = "Container image of the service (built from the repository's Dockerfile)."
  type        = string
}

variable "service_name" {
  description = "Name of the Cloud Run service and prefix of the other resources."
  type        = string
  default     = "governor"
}

variable "procurement_topic" {
  description = "Name of the Pub/Sub topic in this project that carries procurement events when marketplace_provider_id is empty; created here, with our subscription. Also names the dead-letter topic (<name>.dead-letter), made in either case."
  type        = string
  default     = "governor-procurement"
}

variable "archive_retention_days" {
  description = "Days an archive of a cancelled tenant cannot be deleted or replaced (the archive bucket's retention policy)."
  type        = number
  # Seven years: 7 x 365 days + 2 leap days = 2557 days = 220,924,800 s, which
  # covers any seven calendar years (7 mean Gregorian years are 220,898,664 s).
  default = 2557
  validation {
    condition     = var.archive_retention_days >= 1 && var.archive_retention_days <= 36524
    error_message = "archive_retention_days must be between 1 and 36524 (Cloud Storage allows at most 100 years)."
  }
}

variable "lock_archive_retention" {
  description = "Lock the archive bucket's retention policy. Irreversible: once locked, the period can only grow and the bucket cannot be deleted while it holds archives."
  type        = bool
  default     = false
}

variable "allow_unauthenticated" {
  description = "Let anyone reach the service through Cloud Run (Marketplace webhooks need it); the service authenticates every call itself."
  type        = bool
  default     = true
}

variable "dead_letter_max_attempts" {
  description = "Deliveries of a procurement message before it goes to the dead-letter topic."
  type        = number
  default     = 5
}

variable "tenant_publishers" {
  description = "Provisioned tenants (account ids) whose systems publish signals to their Pub/Sub topic: each publisher gets roles/pubsub.publisher on tenants.<account>.signals alone."
  type        = set(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.tenant_publishers : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", a))])
    error_message = "tenant_publishers holds account ids: letters, digits, '.', '_', '-', at most 128, starting with a letter or digit."
  }
}

variable "tenant_publisher_members" {
  description = "Tenants that publish with an identity of their own: account id -> IAM member (e.g. serviceAccount:publisher@their-project.iam.gserviceaccount.com). Others get a service account gov-t-<hash> made here."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for m in values(var.tenant_publisher_members) : can(regex("^(serviceAccount|user|group|principal|principalSet):", m))])
    error_message = "each tenant_publisher_members value is an IAM member such as serviceAccount:NAME@PROJECT.iam.gserviceaccount.com."
  }
}

variable "marketplace_provider_id" {
  description = "Google Cloud Marketplace partner (provider) id. Set: the service subscribes to Marketplace's topic projects/cloudcommerceproc-prod/topics/<id> and reads each entitlement and account from the Partner Procurement API. Empty: no Marketplace integration (procurement events arrive on procurement_topic or the signed webhook)."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9_-]{0,127})?$", var.marketplace_provider_id))
    error_message = "marketplace_provider_id is a provider id: letters, digits, '_', '-', at most 128, or empty."
  }
}

variable "marketplace_service_name" {
  description = "Google Cloud Marketplace: the product's service name at Service Control (Producer Portal, Billing integration: Service domain), e.g. example-product.gcpmarketplace.example.com. Usage is reported to it; empty: no usage reports."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^([a-z0-9][a-z0-9.-]{0,252})?$", var.marketplace_service_name))
    error_message = "marketplace_service_name is a service name such as example-product.gcpmarketplace.example.com, or empty."
  }
}

variable "signup_audience" {
  description = "Google Cloud Marketplace: the audience the sign-up token must name, your sign-up domain. Empty: POST /v1/marketplace/signup answers 404."
  type        = string
  default     = ""
  validation {
    condition     = length(var.signup_audience) <= 253
    error_message = "signup_audience is a domain: at most 253 characters."
  }
}

variable "marketplace_max_delivery_attempts" {
  description = "Deliveries of a Marketplace notification before it goes to the dead-letter topic (5 to 100). A notification is nacked while its account has not signed up and while the Procurement API does not answer; the reconciliation sweep heals what is dead-lettered."
  type        = number
  default     = 100
  validation {
    condition     = var.marketplace_max_delivery_attempts >= 5 && var.marketplace_max_delivery_attempts <= 100
    error_message = "marketplace_max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "grant_service_controller" {
  description = "Grant the service account roles/servicemanagement.serviceController on marketplace_service_name here. Set false when Producer Portal's Billing integration makes the grant and the service's IAM policy is not yours to change."
  type        = bool
  default     = true
}
