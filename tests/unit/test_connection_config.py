"""How the environment and temporal.toml become Client.connect arguments (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from agentic_loop.config import ConfigError, Settings
from agentic_loop.telemetry import secrets_of
from agentic_loop.temporal.connection import client_connect_config, configured_address, describe

API_KEY = "tmprl-api-key-0123456789-SECRET"


def settings(tmp_path: Path, **env: str) -> Settings:
    # A config file that does not exist: the developer's own ~/.config/temporalio stays out.
    return Settings.from_env({"TEMPORAL_CONFIG_FILE": str(tmp_path / "none.toml"), **env})


def test_nothing_configured_means_localhost_and_the_default_namespace(tmp_path: Path) -> None:
    """With no variable and no file, the client goes to localhost:7233, namespace default,
    in plaintext, and `run` knows no server was configured."""
    config = client_connect_config(settings(tmp_path))
    assert config == {"target_host": "localhost:7233", "namespace": "default"}
    assert configured_address(settings(tmp_path)) is None


def test_address_and_namespace_come_from_the_environment(tmp_path: Path) -> None:
    """TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE are used as given."""
    config = client_connect_config(
        settings(tmp_path, TEMPORAL_ADDRESS="temporal:7233", TEMPORAL_NAMESPACE="agents")
    )
    assert config["target_host"] == "temporal:7233"
    assert config["namespace"] == "agents"


def test_an_api_key_turns_tls_on_for_temporal_cloud(tmp_path: Path) -> None:
    """TEMPORAL_API_KEY alone (Temporal Cloud) sets the key and TLS, per the SDK's rule."""
    config = client_connect_config(
        settings(
            tmp_path,
            TEMPORAL_ADDRESS="us-east-1.aws.api.temporal.io:7233",
            TEMPORAL_NAMESPACE="agents.a1b2c",
            TEMPORAL_API_KEY=API_KEY,
        )
    )
    assert config["api_key"] == API_KEY
    assert config["tls"] is True
    assert describe(config) == (
        "us-east-1.aws.api.temporal.io:7233 (namespace 'agents.a1b2c', TLS, API key)"
    )


def test_mtls_files_named_in_the_environment_are_read(tmp_path: Path) -> None:
    """TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH (mTLS) and a server CA and name end up, as
    file contents, in the TLS config."""
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    config = client_connect_config(
        settings(
            tmp_path,
            TEMPORAL_ADDRESS="temporal.internal:7233",
            TEMPORAL_TLS_CLIENT_CERT_PATH=str(cert),
            TEMPORAL_TLS_CLIENT_KEY_PATH=str(key),
            TEMPORAL_TLS_SERVER_CA_CERT_PATH=str(ca),
            TEMPORAL_TLS_SERVER_NAME="temporal.internal",
        )
    )
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")
    assert (tls.server_root_ca_cert, tls.domain) == (b"CA", "temporal.internal")
    assert "mTLS" in describe(config)


def test_a_missing_tls_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """A client certificate path that does not exist fails at start, naming the file."""
    missing = tmp_path / "gone.pem"
    with pytest.raises(ConfigError, match=r"gone\.pem"):
        client_connect_config(
            settings(
                tmp_path,
                TEMPORAL_ADDRESS="temporal.internal:7233",
                TEMPORAL_TLS_CLIENT_CERT_PATH=str(missing),
                TEMPORAL_TLS_CLIENT_KEY_PATH=str(missing),
            )
        )


def test_a_temporal_toml_profile_is_loaded_and_the_environment_overrides_it(
    tmp_path: Path,
) -> None:
    """TEMPORAL_PROFILE picks a profile of TEMPORAL_CONFIG_FILE; TEMPORAL_ADDRESS, when set,
    wins over the file's address, and the file's namespace and metadata stay."""
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        '[profile.prod]\naddress = "prod.example:7233"\nnamespace = "agents"\n'
        '[profile.prod.grpc_meta]\nx-team = "agents"\n',
        encoding="utf-8",
    )
    env = {"TEMPORAL_CONFIG_FILE": str(config_file), "TEMPORAL_PROFILE": "prod"}
    from_file = client_connect_config(Settings.from_env(env))
    assert from_file["target_host"] == "prod.example:7233"
    assert from_file["namespace"] == "agents"
    assert from_file["rpc_metadata"] == {"x-team": "agents"}
    assert configured_address(Settings.from_env(env)) == "prod.example:7233"

    overridden = client_connect_config(Settings.from_env({**env, "TEMPORAL_ADDRESS": "other:7233"}))
    assert overridden["target_host"] == "other:7233"
    assert overridden["namespace"] == "agents"


def test_an_unknown_profile_is_a_config_error(tmp_path: Path) -> None:
    """Asking for a profile the file does not have fails with the profile's name."""
    config_file = tmp_path / "temporal.toml"
    config_file.write_text('[profile.prod]\naddress = "prod.example:7233"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="staging"):
        client_connect_config(
            Settings.from_env(
                {"TEMPORAL_CONFIG_FILE": str(config_file), "TEMPORAL_PROFILE": "staging"}
            )
        )


def test_overrides_beat_the_environment(tmp_path: Path) -> None:
    """An explicit address or namespace (a CLI flag) wins over TEMPORAL_ADDRESS."""
    config = client_connect_config(
        settings(tmp_path, TEMPORAL_ADDRESS="env:7233"),
        address_override="flag:7233",
        namespace_override="flagged",
    )
    assert (config["target_host"], config["namespace"]) == ("flag:7233", "flagged")


def test_grpc_metadata_comes_from_the_environment(tmp_path: Path) -> None:
    """TEMPORAL_GRPC_META_* variables become the client's RPC metadata."""
    config = client_connect_config(settings(tmp_path, TEMPORAL_GRPC_META_X_TENANT="acme"))
    assert config["rpc_metadata"] == {"x-tenant": "acme"}


def test_settings_repr_shows_no_secret_and_secrets_are_known(tmp_path: Path) -> None:
    """Settings' repr (in a traceback or a log) holds no API key or codec key, while the
    log redactor knows all of them."""
    codec_key = "q0n7Bd6V2Y9w3c1tYJm7S2w8mPq4rN5sT6uV7wX8yZ0="
    loaded = settings(
        tmp_path,
        TEMPORAL_API_KEY=API_KEY,
        AGENTIC_LOOP_CODEC_KEYS=f"k1:{codec_key}",
        AGENTIC_LOOP_CODEC_TOKEN="codec-token-123456",
    )
    assert API_KEY not in repr(loaded)
    assert codec_key not in repr(loaded)
    assert "codec-token-123456" not in repr(loaded)
    assert {API_KEY, codec_key, "codec-token-123456"} <= set(secrets_of(loaded))
