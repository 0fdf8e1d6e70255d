"""The local stack's buckets: created in moto under a valid S3 name that is exactly their resolved ``Ref``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from switchboard import aws
from switchboard_cli.local import environment
from switchboard_cli.local.aws_backend import LocalTemplate, create_buckets
from switchboard_cli.local.buckets import bucket_name_problem, bucket_settings, s3
from switchboard_cli.local.functions import function_specs
from switchboard_cli.local.template import StackContext, Template, TemplateError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in environment.FAKE_CREDENTIALS:
        monkeypatch.setenv(name, "testing")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1")
    with mock_aws():
        aws.reset()
        yield
    aws.reset()


def test_the_files_bucket_is_created_under_its_ref_with_its_settings(moto: None):
    # Given the project's template as the local stack resolves it
    template = LocalTemplate.from_file(ROOT / "template.yaml")

    # When its buckets are created
    created = create_buckets(template)

    # Then FilesBucket exists under a valid S3 name: its Ref, and every function's FILES_BUCKET
    name = created["FilesBucket"]
    assert name == "switchboard-local-filesbucket"
    assert bucket_name_problem(name) is None
    assert template.ref("FilesBucket") == name
    assert [bucket["Name"] for bucket in s3().list_buckets()["Buckets"]] == [name]
    readers = {
        logical_id: spec.environment["FILES_BUCKET"]
        for logical_id, spec in function_specs(template).items()
        if "FILES_BUCKET" in spec.environment
    }
    readers_of_files = (
        "AppsFunction",
        "BackgroundExecutorFunction",
        "DispatcherFunction",
        "ExecutorFunction",
        "ManagementFunction",
    )
    assert readers == dict.fromkeys(readers_of_files, name)
    # And ARNs in policies name the same bucket
    assert template.resolve({"Fn::Sub": "${FilesBucket.Arn}/apps/*"}) == f"arn:aws:s3:::{name}/apps/*"
    # And the template's encryption, public access block and ownership controls are in force
    encryption = s3().get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3().get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    ownership = s3().get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]
    assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # And the TLS-only bucket policy is not applied: moto would deny every request with it
    s3().put_object(Bucket=name, Key="apps/app_1/file.txt", Body=b"hello")
    assert s3().get_object(Bucket=name, Key="apps/app_1/file.txt")["Body"].read() == b"hello"


def test_a_plain_template_ref_is_not_a_bucket_name_and_is_refused(moto: None):
    # A logical id has capitals; S3 refuses it, so creation says so instead of naming the bucket differently
    plain = Template.from_file(ROOT / "template.yaml")
    assert plain.ref("FilesBucket") == "FilesBucket"
    with pytest.raises(TemplateError, match="FilesBucket would be named 'FilesBucket', which S3 refuses"):
        create_buckets(plain)


def test_an_explicit_bucket_name_is_kept_and_a_derived_one_is_trimmed_to_a_valid_name(moto: None):
    long_id = "Uploads" + "X" * 80
    template = LocalTemplate(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
            "Resources": {
                "Named": {
                    "Type": "AWS::S3::Bucket",
                    "Properties": {"BucketName": {"Fn::Sub": "acme-${Stage}-files"}},
                },
                long_id: {"Type": "AWS::S3::Bucket"},
            },
        },
        ROOT,
        context=StackContext(stack_name="My-Stack"),
    )

    created = create_buckets(template)

    assert created["Named"] == "acme-dev-files" == template.ref("Named")
    derived = created[long_id]
    assert derived == template.ref(long_id) == ("my-stack-uploads" + "x" * 80)[:63]
    assert bucket_name_problem(derived) is None
    assert template.get_att("Named", "RegionalDomainName") == "acme-dev-files.s3.us-east-1.amazonaws.com"


def test_an_invalid_explicit_bucket_name_is_refused(moto: None):
    template = LocalTemplate(
        {"Resources": {"Bad": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "Bad_Name"}}}}, ROOT
    )
    with pytest.raises(TemplateError, match="bucket Bad would be named 'Bad_Name'"):
        create_buckets(template)


def test_buckets_are_created_in_the_local_region(moto: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.reset()
    template = LocalTemplate({"Resources": {"Files": {"Type": "AWS::S3::Bucket"}}}, ROOT)

    (name,) = create_buckets(template).values()

    assert s3().get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("switchboard-local-filesbucket", True),
        ("a.b-c", True),
        ("ab", False),
        ("x" * 64, False),
        ("Upper", False),
        ("-start", False),
        ("a..b", False),
        ("192.168.0.1", False),
        ("xn--files", False),
        ("files-s3alias", False),
    ],
)
def test_bucket_name_rules(name: str, valid: bool):
    assert (bucket_name_problem(name) is None) is valid


def test_settings_are_translated_from_cloudformation_to_the_s3_api():
    settings = bucket_settings(
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "k"},
                        "BucketKeyEnabled": "true",
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": "false"},
            "VersioningConfiguration": {"Status": "Enabled"},
            "Tags": [{"Key": "team", "Value": 7}],
            "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 30}]},
        }
    )

    assert settings == {
        "put_bucket_encryption": {
            "ServerSideEncryptionConfiguration": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": "k",
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            }
        },
        "put_public_access_block": {
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "IgnorePublicAcls": False}
        },
        "put_bucket_versioning": {"VersioningConfiguration": {"Status": "Enabled"}},
        "put_bucket_tagging": {"Tagging": {"TagSet": [{"Key": "team", "Value": "7"}]}},
    }
