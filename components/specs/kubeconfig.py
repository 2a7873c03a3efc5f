"""A kubeconfig for a GKE cluster that authenticates through gke-gcloud-auth-plugin (no static tokens).

The context name follows gcloud's `gke_<project>_<location>_<cluster>`, so the Pulumi provider, kubectl
after `gcloud container clusters get-credentials`, and the docs all name a cluster the same way.
"""

from __future__ import annotations

import json


def gke_context_name(project: str, location: str, cluster: str) -> str:
    return f"gke_{project}_{location}_{cluster}"


def gke_kubeconfig(context: str, endpoint: str, ca_certificate_b64: str) -> str:
    """Kubeconfig text (JSON, which is valid YAML) for one cluster endpoint and its base64 CA."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_certificate_b64,
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                        "interactiveMode": "Never",
                        "installHint": "Install gke-gcloud-auth-plugin: `gcloud components install gke-gcloud-auth-plugin` "
                        "or the google-cloud-cli-gke-gcloud-auth-plugin package.",
                    }
                },
            }
        ],
    }
    return json.dumps(document, indent=2)
