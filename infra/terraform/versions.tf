terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

# Acts as the runtime's service account, for what Google Cloud Marketplace
# grants that account alone: attaching a subscription to Marketplace's
# procurement topic (main.tf). Without a provider id it impersonates nobody.
provider "google" {
  alias                       = "marketplace"
  project                     = var.project
  region                      = var.region
  impersonate_service_account = var.marketplace_provider_id != "" ? local.governor_email : null
}
