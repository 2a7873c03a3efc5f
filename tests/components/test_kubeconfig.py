"""The kubeconfig the Kubernetes provider uses: exec auth through gke-gcloud-auth-plugin, gcloud's context name."""

from __future__ import annotations

import yaml

from components.specs.kubeconfig import gke_context_name, gke_kubeconfig


def test_context_name_matches_gcloud() -> None:
    assert gke_context_name("my-proj", "europe-west3", "gke-west") == "gke_my-proj_europe-west3_gke-west"


def test_kubeconfig_uses_the_auth_plugin_and_no_static_credentials() -> None:
    document = yaml.safe_load(gke_kubeconfig("ctx", "10.1.2.3", "Q0E="))
    assert document["current-context"] == "ctx"
    (cluster,) = document["clusters"]
    assert cluster["cluster"] == {"server": "https://10.1.2.3", "certificate-authority-data": "Q0E="}
    (user,) = document["users"]
    assert set(user["user"]) == {"exec"}
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["interactiveMode"] == "Never"
