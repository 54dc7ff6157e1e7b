variable "project_id" {
  description = "Google Cloud project that holds everything (must exist, with billing enabled)."
  type        = string
}

variable "region" {
  description = "Region of the cluster, the database, the image repository and (by default) the buckets."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name (lower case letters, digits and hyphens)."
  type        = string
  default     = "passcompass"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "name: 3 to 21 characters, lower case letters, digits and hyphens, starting with a letter."
  }
}

variable "kubernetes_namespace" {
  description = "Namespace of the PassCompass and Dagster workloads (deploy/k8s/namespace.yaml)."
  type        = string
  default     = "passcompass"
}

variable "kubernetes_service_account" {
  description = "Kubernetes service account of those workloads (deploy/k8s/serviceaccount.yaml); Workload Identity maps it to the workload service account."
  type        = string
  default     = "passcompass"
}

variable "db_version" {
  description = "Cloud SQL PostgreSQL major version."
  type        = string
  default     = "POSTGRES_17"
}

variable "db_tier" {
  description = "Cloud SQL machine tier. One university fits a small shared or custom tier; see DESIGN.md \"Scale\"."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_disk_size_gb" {
  description = "Initial database disk size in GB (grows automatically)."
  type        = number
  default     = 20
}

variable "db_high_availability" {
  description = "Regional (high-availability) Cloud SQL instance instead of a zonal one."
  type        = bool
  default     = false
}

variable "db_user" {
  description = "Database user that owns the three databases."
  type        = string
  default     = "passcompass"
}

variable "bucket_location" {
  description = "Location of the Cloud Storage buckets (a region, a dual-region or a multi-region such as EU)."
  type        = string
  default     = "EU"
}

variable "landing_noncurrent_days" {
  description = "Days an overwritten or deleted landing or report object version is kept before it is deleted."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Protect the cluster and the database from `terraform destroy`. Turn off only to tear down a test footprint."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may push images and deploy, through Workload Identity Federation. Empty: no CI/CD identity is created."
  type        = string
  default     = ""
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}
