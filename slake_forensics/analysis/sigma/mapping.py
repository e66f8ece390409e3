"""AWS CloudTrail Sigma fields → SQL expressions over the Security Lake v2 ``cloud_trail_mgmt`` table (OCSF 1.1.0).

Fixed fields map to OCSF columns; ``requestParameters.X`` / ``responseElements.X`` to
``json_extract_scalar`` on ``api.request.data`` / ``api.response.data`` (bare ``requestParameters`` /
``responseElements`` to that JSON text, for ``contains``); ``status`` (which SigmaHQ rules use for
the call's outcome, not a CloudTrail key) to the OCSF ``status`` (``Success`` / ``Failure``); raw keys Security Lake
does not consume to ``element_at(unmapped, 'key')`` (flattened with dots).  Dynamic name parts
must be identifiers (``[A-Za-z_][A-Za-z0-9_]*``), so no rule text reaches the SQL unchecked.
"""
from __future__ import annotations

import re

from sigma.exceptions import SigmaTransformationError
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldFunctionTransformation, RuleFailureTransformation

_SEGMENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_SEGMENT}(?:\.{_SEGMENT})*")


def _unmapped(key: str) -> str:
    return f"element_at(unmapped, '{key}')"


#: Sigma (raw CloudTrail) field → SQL expression on the cloud_trail_mgmt table.
FIELDS: dict[str, str] = {
    "eventName": "api.operation",
    "requestParameters": "api.request.data",
    "responseElements": "api.response.data",
    "status": "status",
    "eventSource": "api.service.name",
    "sourceIPAddress": "COALESCE(src_endpoint.ip, src_endpoint.domain)",
    "userAgent": "http_request.user_agent",
    "awsRegion": "cloud.region",
    "recipientAccountId": _unmapped("recipientAccountId"),
    "errorCode": "api.response.error",
    "errorMessage": "api.response.message",
    "eventID": "metadata.uid",
    "eventTime": "date_format(time_dt, '%Y-%m-%dT%H:%i:%sZ')",
    "eventType": f"COALESCE(metadata.event_code, {_unmapped('eventType')})",
    "eventVersion": "metadata.product.version",
    "eventCategory": f"COALESCE({_unmapped('eventCategory')}, metadata.product.feature.name)",
    "requestID": "api.request.uid",
    "apiVersion": "api.version",
    "vpcEndpointId": "src_endpoint.uid",
    "userIdentity.type": "actor.user.type",
    "userIdentity.arn": "actor.user.uid",
    "userIdentity.principalId": "actor.user.uid_alt",
    "userIdentity.accountId": "actor.user.account.uid",
    "userIdentity.accessKeyId": "actor.user.credential_uid",
    "userIdentity.userName": "actor.user.name",
    "userIdentity.invokedBy": "actor.invoked_by",
    "userIdentity.identityProvider": "actor.idp.name",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": "CAST(actor.session.is_mfa AS varchar)",
    "userIdentity.sessionContext.attributes.creationDate": "date_format(actor.session.created_time_dt, '%Y-%m-%dT%H:%i:%sZ')",
    "userIdentity.sessionContext.sessionIssuer.arn": "actor.session.issuer",
    "additionalEventData.MFAUsed": (
        f"COALESCE({_unmapped('additionalEventData.MFAUsed')}, CASE WHEN is_mfa THEN 'Yes' WHEN NOT is_mfa THEN 'No' END)"
    ),
    "additionalEventData.LoginTo": f"COALESCE({_unmapped('additionalEventData.LoginTo')}, dst_endpoint.svc_name)",
}

#: Raw keys (and prefixes of nested raw objects) that Security Lake leaves in ``unmapped``.
UNMAPPED_KEYS = ("managementEvent", "readOnly", "sharedEventID", "sessionCredentialFromConsole", "vpcEndpointAccountId")
UNMAPPED_PREFIXES = ("additionalEventData.", "tlsDetails.", "serviceEventDetails.", "addendum.", "edgeDeviceDetails.",
                     "userIdentity.sessionContext.")
#: Sigma field prefixes read from a JSON-text column, by column.
JSON_PREFIXES = {"requestParameters.": "api.request.data", "responseElements.": "api.response.data"}


class UnmappedFieldError(SigmaTransformationError):
    """A Sigma field has no OCSF column in the ``cloud_trail_mgmt`` table.

    Parameters
    ----------
    field
        The Sigma field.
    why
        The rest of the message.

    Examples
    --------
    >>> try:
    ...     resolve_field("eventname")
    ... except UnmappedFieldError as exc:
    ...     print(exc.field)
    eventname
    """

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        super().__init__(f"Field {field!r} {why}")


def resolve_field(field: str | None) -> str:
    """The SQL expression of Sigma CloudTrail ``field``; raises :class:`UnmappedFieldError` naming it otherwise.

    Parameters
    ----------
    field
        A raw CloudTrail field name as Sigma rules write it (``None``: a keyword search).

    Returns
    -------
    str
        SQL over the ``cloud_trail_mgmt`` table's columns.

    Examples
    --------
    >>> resolve_field("userIdentity.arn")
    'actor.user.uid'
    >>> print(resolve_field("requestParameters.bucketName"))
    json_extract_scalar(api.request.data, '$.bucketName')
    """
    if field is None:
        raise UnmappedFieldError("(keyword)", "is a keyword search without a field; name a CloudTrail field.")
    if field in FIELDS:
        return FIELDS[field]
    for prefix, column in JSON_PREFIXES.items():
        if field.startswith(prefix):
            rest = field[len(prefix):]
            if not _DOTTED.fullmatch(rest):
                raise UnmappedFieldError(field, "has a key path that is not dotted identifiers.")
            return f"json_extract_scalar({column}, '$.{rest}')"
    if field in UNMAPPED_KEYS or field.startswith(UNMAPPED_PREFIXES):
        if not _DOTTED.fullmatch(field):
            raise UnmappedFieldError(field, "is not dotted identifiers.")
        return _unmapped(field)
    raise UnmappedFieldError(
        field,
        "has no mapping to the Security Lake cloud_trail_mgmt table (OCSF 1.1.0); mapped fields: "
        + ", ".join(sorted(FIELDS)) + ", requestParameters.*, responseElements.*, " + ", ".join(UNMAPPED_KEYS)
        + ", " + ", ".join(p + "*" for p in UNMAPPED_PREFIXES) + ".",
    )


def cloudtrail_pipeline() -> ProcessingPipeline:
    """The pySigma pipeline: CloudTrail rules' fields → SQL on ``cloud_trail_mgmt``; other log sources fail.

    Returns
    -------
    sigma.processing.pipeline.ProcessingPipeline
        Rules of another log source fail; fields are replaced by :func:`resolve_field`.

    Examples
    --------
    >>> cloudtrail_pipeline().name
    'Security Lake CloudTrail (OCSF 1.1.0)'
    """
    def aws() -> LogsourceCondition:
        return LogsourceCondition(product="aws", service="cloudtrail")

    return ProcessingPipeline(
        name="Security Lake CloudTrail (OCSF 1.1.0)",
        priority=20,
        items=[
            ProcessingItem(
                RuleFailureTransformation("Only rules with logsource product: aws, service: cloudtrail are supported."),
                rule_conditions=[aws()], rule_condition_negation=True, identifier="slake_logsource",
            ),
            ProcessingItem(FieldFunctionTransformation({}, resolve_field), rule_conditions=[aws()], identifier="slake_fields"),
        ],
    )
