"""Configuration: the only place it is read. A TOML file, overridden by INGESTD_* variables."""

from __future__ import annotations

import os
import ssl
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ingestd.core import signing
from ingestd.core.settle import may_match_suffix
from ingestd.errors import ConfigError
from ingestd.readers.xml.paths import RecordPath

DEFAULT_PATTERNS = ("*.json", "*.xlsx", "*.xlsm", "*.csv", "*.tsv", "*.ndjson", "*.jsonl")


class InboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    root: Path
    callback_url: str
    patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_PATTERNS), min_length=1)
    chunk_records: int = Field(500, ge=1)
    chunk_bytes: int = Field(1048576, ge=1024)
    settle_seconds: float = Field(2.0, ge=0)
    request_timeout_seconds: float = Field(30, gt=0)
    retry_max_delay_seconds: float = Field(60, gt=0)
    retry_initial_delay_seconds: float = Field(0.5, gt=0)
    json_items_path: str = "item"
    excel_sheet: str | int | None = None
    excel_header_row: int = Field(1, ge=1)
    excel_header_conflicts: Literal["fail", "rename"] = "fail"
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    csv_quotechar: str = Field('"', min_length=1, max_length=1)
    csv_encoding: Literal["utf-8", "cp1252", "latin-1", "utf-16"] = "utf-8"
    csv_header_row: int = Field(1, ge=1)
    csv_header_conflicts: Literal["fail", "rename"] = "fail"
    xml_record_path: str | None = None
    xml_namespaces: dict[str, str] = Field(default_factory=dict)
    callback_token_file: Path | None = None
    callback_token_credential: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    signing_secret_file: Path | None = None
    signing_secret_credential: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    tls_verify: bool = True
    tls_ca_file: Path | None = None
    parse_memory_limit_mb: int = Field(1024, ge=128)
    parse_time_limit_seconds: float = Field(3600, gt=0)
    max_internal_errors: int = Field(5, ge=1)

    def auth_headers(self) -> dict[str, str]:
        """`Authorization: Bearer ...` from a file or a systemd credential; read at start-up."""
        token = self._token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def signing_keys(self) -> tuple[bytes, ...]:
        """The Standard Webhooks keys, from a file or a systemd credential; read at start-up."""
        text = self._secret_text(
            self.signing_secret_file, self.signing_secret_credential, "signing_secret"
        )
        if text is None:
            return ()
        try:
            return signing.parse_secrets(text)
        except ValueError as exc:
            raise ConfigError(f"inbox {self.name}: the signing secret file: {exc}") from None

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a log line or a report: the token and its header, and the
        signing secrets as written and as bytes in base64."""
        found: list[str] = []
        token = self._token()
        if token:
            found += [f"Bearer {token}", token]
        text = self._secret_text(
            self.signing_secret_file, self.signing_secret_credential, "signing_secret"
        )
        for line in (text or "").split():
            found += [line, line.removeprefix(signing.PREFIX)]
        return tuple(found)

    def _token(self) -> str | None:
        token = self._secret_text(
            self.callback_token_file, self.callback_token_credential, "callback_token"
        )
        if token is None:
            return None
        token = token.strip()
        if not token or any(c in token for c in "\r\n"):
            raise ConfigError(f"inbox {self.name}: the callback token must be one non-empty line")
        return token

    def _secret_text(self, path: Path | None, credential: str | None, key: str) -> str | None:
        """The text of `<key>_file`, or of the systemd credential `<key>_credential`."""
        if credential:
            directory = os.environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                raise ConfigError(
                    f"inbox {self.name}: {key}_credential is set but $CREDENTIALS_DIRECTORY is "
                    "not (use LoadCredential= in the unit)"
                )
            path = Path(directory) / credential
        if path is None:
            return None
        what = key.replace("_", " ")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"inbox {self.name}: cannot read the {what}: {exc}") from exc

    def httpx_verify(self) -> bool | ssl.SSLContext:
        """httpx's verify: False, a context trusting a private CA, or True (the system's store)."""
        if not self.tls_verify:
            return False
        if self.tls_ca_file is None:
            return True
        try:
            return ssl.create_default_context(cafile=str(self.tls_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"inbox {self.name}: tls_ca_file: {exc}") from exc

    workers: int = Field(1, ge=1, le=64)
    rescan_seconds: float = Field(30, gt=0)

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _xml_needs_a_record_path(self) -> InboxSettings:
        if self.xml_record_path is not None:
            try:
                RecordPath.parse(self.xml_record_path, self.xml_namespaces)
            except ValueError as exc:
                raise ValueError(f"inbox {self.name}: xml_record_path: {exc}") from None
        elif any(may_match_suffix(pattern, ".xml") for pattern in self.patterns):
            raise ValueError(
                f"inbox {self.name}: its patterns admit .xml files, so xml_record_path must be "
                "set (the path of the record element, e.g. '/BMECAT/T_NEW_CATALOG/PRODUCT')"
            )
        return self

    @field_validator("csv_delimiter", "csv_quotechar")
    @classmethod
    def _not_a_line_break(cls, value: str) -> str:
        if value in "\r\n":
            raise ValueError("cannot be a line break")
        return value

    @field_validator("json_items_path")
    @classmethod
    def _items_path(cls, value: str) -> str:
        if value != "item" and not value.endswith(".item"):
            raise ValueError("must name the items of an array: 'item' or a path ending in '.item'")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INGESTD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    inbox: list[InboxSettings] = Field(min_length=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    metrics_listen: str | None = Field(
        None, pattern=r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$"
    )

    @model_validator(mode="after")
    def _distinct_inboxes(self) -> Settings:
        for attribute in ("name", "root"):
            values = [getattr(inbox, attribute) for inbox in self.inbox]
            repeated = {str(v) for v in values if values.count(v) > 1}
            if repeated:
                raise ValueError(f"inbox {attribute} must be unique: {', '.join(sorted(repeated))}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


def config_path(explicit: str | None) -> Path | None:
    """--config wins, then INGESTD_CONFIG; None means the embedded default."""
    chosen = explicit or os.environ.get("INGESTD_CONFIG")
    return Path(chosen) if chosen else None


def load(path: Path) -> Settings:
    """Read and validate a config file; ConfigError names the key and the problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from exc
    return from_mapping(data, str(path))


def from_mapping(data: dict[str, Any], origin: str = "config") -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: " + "; ".join(_describe(e) for e in exc.errors())) from exc


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"
