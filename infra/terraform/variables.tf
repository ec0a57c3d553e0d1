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
  description = "Pub/Sub topic Google Cloud Marketplace publishes procurement events to (created here if Marketplace does not provide one)."
  type        = string
  default     = "governor-procurement"
}

variable "archive_retention_days" {
  description = "Archives of cancelled tenants cannot be deleted or replaced for this long (the bucket's retention policy)."
  type        = number
  default     = 2557 # seven years
}

variable "dead_letter_max_attempts" {
  description = "Deliveries of a procurement message before it goes to the dead-letter topic."
  type        = number
  default     = 5
}
