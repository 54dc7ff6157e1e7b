# Identities. Workloads: the Kubernetes service account passcompass/passcompass acts as the workload service account,
# which may read and write the three buckets. CI/CD (optional): GitHub Actions of var.github_repository act as the
# deployer service account through Workload Identity Federation (no key files).

resource "google_service_account" "workloads" {
  account_id   = "${var.name}-workloads"
  display_name = "PassCompass workloads (API, Dagster code and runs, MLflow)"
}

resource "google_service_account_iam_member" "workloads_identity" {
  service_account_id = google_service_account.workloads.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.workload_member

  depends_on = [google_container_cluster.main]
}

resource "google_storage_bucket_iam_member" "workloads_objects" {
  for_each = google_storage_bucket.stores

  bucket = each.value.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.workloads.email}"
}

resource "google_iam_workload_identity_pool" "github" {
  count = var.github_repository == "" ? 0 : 1

  workload_identity_pool_id = "${var.name}-github"
  display_name              = "GitHub Actions"

  depends_on = [google_project_service.apis]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count = var.github_repository == "" ? 0 : 1

  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github-oidc"
  display_name                       = "GitHub OIDC"
  attribute_condition                = "assertion.repository == \"${var.github_repository}\""

  attribute_mapping = {
    "google.subject"       = "assertion.sub"
    "attribute.repository" = "assertion.repository"
    "attribute.ref"        = "assertion.ref"
  }

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  count = var.github_repository == "" ? 0 : 1

  account_id   = "${var.name}-deployer"
  display_name = "PassCompass CI/CD (GitHub Actions): push images, deploy to GKE"
}

resource "google_service_account_iam_member" "deployer_federation" {
  count = var.github_repository == "" ? 0 : 1

  service_account_id = google_service_account.deployer[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/attribute.repository/${var.github_repository}"
}

resource "google_artifact_registry_repository_iam_member" "deployer_push" {
  count = var.github_repository == "" ? 0 : 1

  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer[0].email}"
}

resource "google_project_iam_member" "deployer_gke" {
  count = var.github_repository == "" ? 0 : 1

  project = var.project_id
  role    = "roles/container.developer"
  member  = "serviceAccount:${google_service_account.deployer[0].email}"
}
