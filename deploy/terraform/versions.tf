# PassCompass's cloud footprint on Google Cloud: a GKE Autopilot cluster (Dagster's Helm chart, the API, MLflow),
# Cloud SQL for PostgreSQL (databases passcompass, dagster, mlflow), Cloud Storage buckets (landing, reports,
# MLflow artifacts), an Artifact Registry repository for the image, and the identities that tie them together.
#
#   cd deploy/terraform
#   cp terraform.tfvars.example terraform.tfvars   # set project_id (and github_repository for CI/CD)
#   terraform init && terraform apply
#
# State: local by default. For a team, keep it in a bucket: uncomment the backend below and run
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=passcompass"
terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14, < 8.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
