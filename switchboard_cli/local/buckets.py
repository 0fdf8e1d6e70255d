"""S3 on the local stack: buckets named as S3 requires, and their settings translated for moto.

Names. ``BucketAwareTemplate`` resolves a bucket's ``Ref`` (its name) and attributes (``Arn``,
``DomainName`` …) from the name the bucket really gets: its ``BucketName`` if set, else
``<stack name>-<logical id lowercased>`` (CloudFormation would add a random suffix; locally the name must stay
the same across restarts, so the state file finds its bucket again). A logical id is not a valid bucket name
(S3 wants lowercase), which is why a plain ``Template`` will not do. ``aws_backend.create_buckets`` creates
each bucket under that name, after checking it is one S3 accepts.

Settings. ``BucketEncryption``, ``PublicAccessBlockConfiguration``, ``OwnershipControls``,
``VersioningConfiguration`` and ``Tags`` are applied to moto. Not applied: lifecycle rules (moto keeps but
never runs them), notifications, CORS, logging and website settings, and ``AWS::S3::BucketPolicy``. moto
evaluates a bucket policy without its ``Condition``: the usual TLS-only deny (``aws:SecureTransport`` false)
would refuse every local request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from switchboard import aws
from switchboard_cli.local.template import Template, TemplateError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

S3_BUCKET = "AWS::S3::Bucket"

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def s3() -> S3Client:
    client: S3Client = aws.client("s3")
    return client


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` as a general purpose bucket name, or None when it is valid."""
    if not _BUCKET_NAME.match(name):
        return "3 to 63 lowercase letters, digits, dots or hyphens, starting and ending alphanumeric"
    if ".." in name:
        return "no two adjacent dots"
    if _IP_ADDRESS.match(name):
        return "not formatted as an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "a prefix or suffix S3 reserves"
    return None


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class BucketAwareTemplate(Template):
    """A ``Template`` whose buckets resolve under the names they really get (see the module docstring)."""

    def bucket_name(self, logical_id: str) -> str:
        properties = self.resources[logical_id].get("Properties") or {}
        if properties.get("BucketName") is not None:
            return str(self.resolve(properties["BucketName"]))
        derived = f"{self.context.stack_name}-{logical_id}".lower()
        return re.sub(r"[^a-z0-9.-]", "-", derived)[:63].strip("-.")

    def ref(self, name: str) -> Any:
        if self._is_bucket(name):
            return self.bucket_name(name)
        return super().ref(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if self._is_bucket(logical_id):
            c, name = self.context, self.bucket_name(logical_id)
            attributes = {
                "Arn": f"arn:{c.partition}:s3:::{name}",
                "DomainName": f"{name}.s3.{c.url_suffix}",
                "RegionalDomainName": f"{name}.s3.{c.region}.{c.url_suffix}",
                "DualStackDomainName": f"{name}.s3.dualstack.{c.region}.{c.url_suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{c.region}.{c.url_suffix}",
            }
            if attribute in attributes:
                return attributes[attribute]
        return super().get_att(logical_id, attribute)

    def _is_bucket(self, logical_id: str) -> bool:
        return self.resources.get(logical_id, {}).get("Type") == S3_BUCKET


def valid_bucket_name(template: Template, logical_id: str) -> str:
    """The bucket's ``Ref``, which is the name it is created with; refused unless S3 would accept it."""
    name = str(template.ref(logical_id))
    problem = bucket_name_problem(name)
    if problem is not None:
        raise TemplateError(f"bucket {logical_id} would be named {name!r}, which S3 refuses: {problem}")
    return name


def bucket_settings(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``Put*`` request arguments (by operation name) for the settings of a bucket's resolved properties."""
    settings: dict[str, dict[str, Any]] = {}
    encryption = (properties.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        settings["put_bucket_encryption"] = {
            "ServerSideEncryptionConfiguration": {"Rules": [_encryption_rule(rule) for rule in encryption]}
        }
    public_access = properties.get("PublicAccessBlockConfiguration")
    if public_access:
        settings["put_public_access_block"] = {
            "PublicAccessBlockConfiguration": {name: _is_true(value) for name, value in public_access.items()}
        }
    ownership = (properties.get("OwnershipControls") or {}).get("Rules")
    if ownership:
        settings["put_bucket_ownership_controls"] = {"OwnershipControls": {"Rules": ownership}}
    versioning = properties.get("VersioningConfiguration")
    if versioning:
        settings["put_bucket_versioning"] = {"VersioningConfiguration": {"Status": versioning["Status"]}}
    tags = properties.get("Tags")
    if tags:
        tag_set = [{"Key": str(tag["Key"]), "Value": str(tag["Value"])} for tag in tags]
        settings["put_bucket_tagging"] = {"Tagging": {"TagSet": tag_set}}
    return settings


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    if rule.get("ServerSideEncryptionByDefault"):
        shaped["ApplyServerSideEncryptionByDefault"] = dict(rule["ServerSideEncryptionByDefault"])
    if "BucketKeyEnabled" in rule:
        shaped["BucketKeyEnabled"] = _is_true(rule["BucketKeyEnabled"])
    return shaped
