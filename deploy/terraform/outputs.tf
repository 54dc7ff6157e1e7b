output "cluster_name" {
  description = "GKE Autopilot cluster name."
  value       = google_container_cluster.main.name
}

output "cluster_location" {
  description = "GKE cluster location (region)."
  value       = google_container_cluster.main.location
}

output "get_credentials_command" {
  description = "Command that points kubectl and helm at the cluster."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.main.name} --region ${google_container_cluster.main.location} --project ${var.project_id}"
}

output "db_host" {
  description = "Private IP address of the Cloud SQL instance, reachable from the cluster (TLS required: sslmode=require)."
  value       = google_sql_database_instance.main.private_ip_address
}

output "db_connection_name" {
  description = "Cloud SQL connection name (project:region:instance), for the Cloud SQL Auth Proxy."
  value       = google_sql_database_instance.main.connection_name
}

output "db_user" {
  description = "Database user that owns the databases."
  value       = google_sql_user.app.name
}

output "db_password" {
  description = "Database password (also in Secret Manager, see db_password_secret). Read it with `terraform output -raw db_password`."
  value       = random_password.db.result
  sensitive   = true
}

output "db_password_secret" {
  description = "Secret Manager secret that holds the database password."
  value       = google_secret_manager_secret.db_password.id
}

output "databases" {
  description = "Databases on the instance: operational (passcompass), Dagster instance (dagster), MLflow backend (mlflow)."
  value       = [for db in google_sql_database.databases : db.name]
}

output "buckets" {
  description = "Object storage per store, as gs:// URLs: landing, reports, mlflow (artifacts)."
  value       = { for key, bucket in google_storage_bucket.stores : key => bucket.url }
}

output "image_repository" {
  description = "Repository of the PassCompass image in Artifact Registry (tag it with the commit SHA)."
  value       = "${local.image_registry}/passcompass"
}

output "workload_service_account" {
  description = "Cloud service account of the workloads (annotation iam.gke.io/gcp-service-account on the Kubernetes service account)."
  value       = google_service_account.workloads.email
}

output "github_workload_identity_provider" {
  description = "Workload Identity provider for google-github-actions/auth (GitHub variable GCP_WORKLOAD_IDENTITY_PROVIDER); null without github_repository."
  value       = var.github_repository == "" ? null : google_iam_workload_identity_pool_provider.github[0].name
}

output "github_deployer_service_account" {
  description = "Service account the workflows act as (GitHub variable GCP_DEPLOYER_SERVICE_ACCOUNT); null without github_repository."
  value       = var.github_repository == "" ? null : google_service_account.deployer[0].email
}

output "deploy_env" {
  description = "What deploy needs beyond the image tag: the placeholders of deploy/helm/values.yaml and deploy/k8s/ (deploy/k8s/placeholders.txt) and the cluster. Export them, or store them as GitHub environment variables."
  value = {
    PASSCOMPASS_IMAGE_REPOSITORY = "${local.image_registry}/passcompass"
    PASSCOMPASS_DB_HOST          = google_sql_database_instance.main.private_ip_address
    PASSCOMPASS_BUCKET_LANDING   = google_storage_bucket.stores["landing"].name
    PASSCOMPASS_BUCKET_REPORTS   = google_storage_bucket.stores["reports"].name
    PASSCOMPASS_BUCKET_MLFLOW    = google_storage_bucket.stores["mlflow"].name
    PASSCOMPASS_WORKLOAD_SA      = google_service_account.workloads.email
    GKE_CLUSTER                  = google_container_cluster.main.name
    GKE_LOCATION                 = google_container_cluster.main.location
  }
}
