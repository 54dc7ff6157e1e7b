# Object storage: landing (normalised uploads), reports, MLflow artifacts. Private (public access prevented, uniform
# IAM); the workloads reach them as the workload service account, mounted by the Cloud Storage FUSE CSI driver.

resource "google_storage_bucket" "stores" {
  for_each = local.buckets

  name                        = "${var.project_id}-${var.name}-${each.key}"
  location                    = var.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = each.value.versioned
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.versioned ? [1] : []

    content {
      condition {
        days_since_noncurrent_time = var.landing_noncurrent_days
      }

      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.apis]
}
