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
  description = "Name of the Pub/Sub topic in this project that carries Marketplace procurement events; created here, with our subscription and a dead-letter topic."
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
