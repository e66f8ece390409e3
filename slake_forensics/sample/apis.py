"""AWS services and API calls of background CloudTrail: real eventSources, eventNames, weights, templates.

:data:`SERVICE_APIS` maps each service family of :attr:`Principal.services
<slake_forensics.sample.org.Principal.services>` to a :class:`Service`: its ``eventSource``,
its error codes and its :class:`Api` calls with relative weights, CloudTrail ``readOnly``
and ``requestParameters`` templates.  Templates are compact JSON with ``<placeholder>``
slots filled per event by :func:`fill_template` from :func:`resource_pools` (the org's
buckets, instances, functions, users, roles, keys …).  :data:`SERVICE_LINKED_CALLS`
says what AWS service principals do in an account.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.sample.cloudtrail import random_strings
from slake_forensics.sample.common import hex_ids, uuids
from slake_forensics.sample.org import Org


@dataclass(frozen=True)
class Api:
    """One CloudTrail eventName: ``weight`` relative to its service's other calls, ``request`` template.

    ``resource`` is ``(CloudFormation resource type, ARN template)`` for CloudTrail's
    ``resources[]``; ``target`` names the placeholder holding the affected IAM user or role of
    Account Change events (``user``/``role``).
    """

    name: str
    weight: float
    read_only: bool
    request: str | None = None
    resource: tuple[str, str] | None = None
    target: str | None = None
    response: str | None = None


@dataclass(frozen=True)
class Service:
    """A service family: ``eventSource``, its calls, and the errorCodes it answers with."""

    event_source: str
    apis: tuple[Api, ...]
    denied: str = "AccessDenied"
    throttled: str = "ThrottlingException"
    is_global: bool = False

    @property
    def prefix(self) -> str:
        """IAM action prefix (``ec2``, ``s3``, ``monitoring`` …)."""
        return self.event_source.split(".")[0]

    def weights(self) -> np.ndarray:
        """Call probabilities of :attr:`apis` (sum 1)."""
        w = np.array([a.weight for a in self.apis], dtype="float64")
        return w / w.sum()


def _r(name: str, weight: float, request: str | None = None, resource: tuple[str, str] | None = None) -> Api:
    return Api(name, weight, True, request, resource)


def _w(name: str, weight: float, request: str | None = None, resource: tuple[str, str] | None = None,
       target: str | None = None) -> Api:
    return Api(name, weight, False, request, resource, target)


_INST = ("AWS::EC2::Instance", "arn:aws:ec2:<region>:<account>:instance/<instance>")
_BUCKET = ("AWS::S3::Bucket", "arn:aws:s3:::<bucket>")
_FN = ("AWS::Lambda::Function", "arn:aws:lambda:<region>:<account>:function:<function>")
_ROLE = ("AWS::IAM::Role", "arn:aws:iam::<account>:role/<role>")
_USER = ("AWS::IAM::User", "arn:aws:iam::<account>:user/<user>")
_KMS = ("AWS::KMS::Key", "arn:aws:kms:<region>:<account>:key/<kms_key>")
_SECRET = ("AWS::SecretsManager::Secret", "arn:aws:secretsmanager:<region>:<account>:secret:<secret>")
_TABLE = ("AWS::DynamoDB::Table", "arn:aws:dynamodb:<region>:<account>:table/<table>")
_S3HOST = '"Host":"<bucket>.s3.<region>.amazonaws.com"'

SERVICE_APIS: dict[str, Service] = {
    "ec2": Service("ec2.amazonaws.com", (
        _r("DescribeInstances", 30, '{"instancesSet":{},"filterSet":{}}'),
        _r("DescribeInstanceStatus", 6, '{"instancesSet":{"items":[{"instanceId":"<instance>"}]},"filterSet":{},"includeAllInstances":false}'),
        _r("DescribeSecurityGroups", 10, '{"securityGroupSet":{},"securityGroupIdSet":{},"filterSet":{}}'),
        _r("DescribeVpcs", 5, '{"vpcSet":{},"filterSet":{}}'), _r("DescribeSubnets", 5, '{"subnetSet":{},"filterSet":{}}'),
        _r("DescribeVolumes", 4, '{"volumeSet":{},"filterSet":{}}'), _r("DescribeImages", 3, '{"executableBySet":{},"imagesSet":{},"ownersSet":{"items":[{"owner":"self"}]},"filterSet":{}}'),
        _r("DescribeTags", 3, '{"filterSet":{"items":[{"name":"resource-id","valueSet":{"items":[{"value":"<instance>"}]}}]}}'),
        _r("DescribeNetworkInterfaces", 3, '{"networkInterfaceIdSet":{},"filterSet":{}}'),
        _r("DescribeAvailabilityZones", 2, '{"availabilityZoneSet":{},"availabilityZoneIdSet":{}}'),
        _r("DescribeKeyPairs", 1, '{"keySet":{},"keyPairIdSet":{}}'), _r("GetConsoleOutput", 0.3, '{"instanceId":"<instance>"}', _INST),
        _w("StartInstances", 0.5, '{"instancesSet":{"items":[{"instanceId":"<instance>"}]}}', _INST),
        _w("StopInstances", 0.5, '{"instancesSet":{"items":[{"instanceId":"<instance>"}]},"force":false}', _INST),
        _w("RunInstances", 0.5, '{"instancesSet":{"items":[{"imageId":"ami-0<hex8>a1b2c3d4e","minCount":1,"maxCount":1}]},"instanceType":"t3.medium","monitoring":{"enabled":false}}'),
        _w("TerminateInstances", 0.3, '{"instancesSet":{"items":[{"instanceId":"<instance>"}]}}', _INST),
        _w("CreateTags", 1, '{"resourcesSet":{"items":[{"resourceId":"<instance>"}]},"tagSet":{"items":[{"key":"Owner","value":"<user>"}]}}', _INST),
        _w("CreateSnapshot", 0.3, '{"volumeId":"vol-0<hex8>5e6f7a8b9","description":"nightly"}'),
        _w("AuthorizeSecurityGroupIngress", 0.2, '{"groupId":"sg-0<hex8>c0ffee1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443}]}}'),
        _w("ModifyInstanceAttribute", 0.2, '{"instanceId":"<instance>","disableApiTermination":{"value":true}}', _INST),
    ), denied="Client.UnauthorizedOperation", throttled="Client.RequestLimitExceeded"),
    "s3": Service("s3.amazonaws.com", (
        _r("ListBuckets", 8, '{"Host":"s3.<region>.amazonaws.com"}'),
        _r("GetBucketLocation", 6, '{"bucketName":"<bucket>",' + _S3HOST + ',"location":""}', _BUCKET),
        _r("GetBucketPolicy", 2, '{"bucketName":"<bucket>",' + _S3HOST + ',"policy":""}', _BUCKET),
        _r("GetBucketAcl", 2, '{"bucketName":"<bucket>",' + _S3HOST + ',"acl":""}', _BUCKET),
        _r("GetBucketVersioning", 2, '{"bucketName":"<bucket>",' + _S3HOST + ',"versioning":""}', _BUCKET),
        _r("GetBucketEncryption", 2, '{"bucketName":"<bucket>",' + _S3HOST + ',"encryption":""}', _BUCKET),
        _r("GetBucketTagging", 1.5, '{"bucketName":"<bucket>",' + _S3HOST + ',"tagging":""}', _BUCKET),
        _r("GetBucketPublicAccessBlock", 1.5, '{"bucketName":"<bucket>",' + _S3HOST + ',"publicAccessBlock":""}', _BUCKET),
        _r("GetBucketLogging", 1, '{"bucketName":"<bucket>",' + _S3HOST + ',"logging":""}', _BUCKET),
        _r("GetBucketLifecycle", 1, '{"bucketName":"<bucket>",' + _S3HOST + ',"lifecycle":""}', _BUCKET),
        _w("PutBucketTagging", 0.2, '{"bucketName":"<bucket>",' + _S3HOST + ',"tagging":"","Tagging":{"TagSet":{"Tag":{"Key":"CostCenter","Value":"<n>"}}}}', _BUCKET),
        _w("PutBucketVersioning", 0.05, '{"bucketName":"<bucket>",' + _S3HOST + ',"versioning":"","VersioningConfiguration":{"Status":"Enabled"}}', _BUCKET),
    )),
    "lambda": Service("lambda.amazonaws.com", (
        _r("ListFunctions20150331", 5, '{"functionVersion":"ALL"}'),
        _r("GetFunction20150331v2", 3, '{"functionName":"<function>"}', _FN),
        _r("GetFunctionConfiguration20150331v2", 2, '{"functionName":"<function>"}', _FN),
        _r("ListVersionsByFunction20150331", 0.5, '{"functionName":"<function>"}', _FN),
        _r("GetPolicy20150331v2", 0.5, '{"functionName":"<function>"}', _FN),
        _r("ListEventSourceMappings20150331", 0.5, '{"functionName":"<function>"}'),
        _r("ListAliases20150331", 0.3, '{"functionName":"<function>"}', _FN),
        _w("UpdateFunctionCode20150331v2", 0.6, '{"functionName":"<function>","s3Bucket":"<bucket>","s3Key":"builds/<function>-<hex8>.zip","publish":true}', _FN),
        _w("UpdateFunctionConfiguration20150331v2", 0.3, '{"functionName":"<function>","timeout":30,"memorySize":512}', _FN),
        _w("PublishVersion20150331", 0.2, '{"functionName":"<function>"}', _FN),
    ), denied="AccessDeniedException", throttled="TooManyRequestsException"),
    "logs": Service("logs.amazonaws.com", (
        _r("DescribeLogGroups", 4, '{"logGroupNamePrefix":"/aws/lambda/"}'),
        _r("DescribeLogStreams", 3, '{"logGroupName":"/aws/lambda/<function>","orderBy":"LastEventTime","descending":true}'),
        _r("FilterLogEvents", 3, '{"logGroupName":"/aws/lambda/<function>","filterPattern":"ERROR","interleaved":true}'),
        _r("GetLogEvents", 3, '{"logGroupName":"/aws/lambda/<function>","logStreamName":"2025/01/01/[$LATEST]<hex8>","startFromHead":false}'),
        _w("StartQuery", 1, '{"logGroupName":"/aws/lambda/<function>","queryString":"fields @timestamp, @message | sort @timestamp desc | limit 50"}'),
        _r("GetQueryResults", 2, '{"queryId":"<qid>"}'),
        _w("PutRetentionPolicy", 0.2, '{"logGroupName":"/aws/lambda/<function>","retentionInDays":30}'),
    ), denied="AccessDeniedException"),
    "cloudformation": Service("cloudformation.amazonaws.com", (
        _r("DescribeStacks", 6, '{"stackName":"<stack>"}'), _r("ListStacks", 2, '{"stackStatusFilter":["CREATE_COMPLETE","UPDATE_COMPLETE"]}'),
        _r("DescribeStackEvents", 3, '{"stackName":"<stack>"}'), _r("GetTemplate", 1, '{"stackName":"<stack>","templateStage":"Original"}'),
        _r("DescribeStackResources", 1, '{"stackName":"<stack>"}'), _r("ValidateTemplate", 0.5, '{"templateURL":"https://<bucket>.s3.amazonaws.com/templates/<stack>.yaml"}'),
        _r("DescribeChangeSet", 0.6, '{"changeSetName":"deploy-<hex8>","stackName":"<stack>"}'),
        _w("CreateChangeSet", 0.3, '{"stackName":"<stack>","changeSetName":"deploy-<hex8>","changeSetType":"UPDATE","capabilities":["CAPABILITY_IAM"]}'),
        _w("ExecuteChangeSet", 0.3, '{"changeSetName":"deploy-<hex8>","stackName":"<stack>"}'),
        _w("UpdateStack", 0.2, '{"stackName":"<stack>","usePreviousTemplate":true,"capabilities":["CAPABILITY_NAMED_IAM"]}'),
    ), denied="AccessDenied", throttled="Throttling"),
    "ecr": Service("ecr.amazonaws.com", (
        _r("GetAuthorizationToken", 5, "{}"), _r("BatchGetImage", 3, '{"repositoryName":"<repo>","imageIds":[{"imageTag":"latest"}]}'),
        _r("GetDownloadUrlForLayer", 3, '{"repositoryName":"<repo>","layerDigest":"sha256:<hex8><hex8><hex8><hex8><hex8><hex8><hex8><hex8>"}'),
        _r("BatchCheckLayerAvailability", 1, '{"repositoryName":"<repo>"}'),
        _r("DescribeRepositories", 1, "{}"), _r("DescribeImages", 1, '{"repositoryName":"<repo>"}'),
        _w("InitiateLayerUpload", 0.5, '{"repositoryName":"<repo>"}'), _w("CompleteLayerUpload", 0.5, '{"repositoryName":"<repo>","uploadId":"<qid>"}'),
        _w("PutImage", 0.5, '{"repositoryName":"<repo>","imageTag":"build-<n>"}'),
    ), denied="AccessDeniedException"),
    "cloudwatch": Service("monitoring.amazonaws.com", (
        _r("DescribeAlarms", 5, '{"maxRecords":100}'), _r("GetMetricData", 3, '{"metricDataQueries":[{"id":"m1","returnData":true}],"scanBy":"TimestampDescending"}'),
        _r("ListMetrics", 2, '{"namespace":"AWS/EC2"}'), _r("GetMetricStatistics", 2, '{"namespace":"AWS/EC2","metricName":"CPUUtilization","period":300,"statistics":["Average"]}'),
        _r("DescribeAlarmHistory", 0.5, '{"historyItemType":"StateUpdate"}'), _r("GetDashboard", 1, '{"dashboardName":"<stack>"}'),
        _r("ListDashboards", 0.5, "{}"), _w("PutMetricAlarm", 0.3, '{"alarmName":"<stack>-cpu-high","namespace":"AWS/EC2","metricName":"CPUUtilization","threshold":80.0}'),
    ), denied="AccessDenied", throttled="Throttling"),
    "autoscaling": Service("autoscaling.amazonaws.com", (
        _r("DescribeAutoScalingGroups", 5, '{"autoScalingGroupNames":["<stack>-asg"]}'), _r("DescribeScalingActivities", 2, '{"autoScalingGroupName":"<stack>-asg"}'),
        _r("DescribeAutoScalingInstances", 1, "{}"), _r("DescribeLaunchConfigurations", 0.5, "{}"),
        _w("UpdateAutoScalingGroup", 0.3, '{"autoScalingGroupName":"<stack>-asg","minSize":2,"maxSize":6}'),
        _w("SetDesiredCapacity", 0.3, '{"autoScalingGroupName":"<stack>-asg","desiredCapacity":3}'),
    ), throttled="Throttling"),
    "elb": Service("elasticloadbalancing.amazonaws.com", (
        _r("DescribeLoadBalancers", 4, "{}"), _r("DescribeTargetGroups", 3, "{}"),
        _r("DescribeTargetHealth", 4, '{"targetGroupArn":"arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<stack>-tg/<hex8><hex8>"}'),
        _r("DescribeListeners", 2, '{"loadBalancerArn":"arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<stack>-alb/<hex8><hex8>"}'),
        _r("DescribeRules", 1, "{}"),
        _w("RegisterTargets", 0.3, '{"targetGroupArn":"arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<stack>-tg/<hex8><hex8>","targets":[{"id":"<instance>"}]}'),
        _w("DeregisterTargets", 0.3, '{"targetGroupArn":"arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<stack>-tg/<hex8><hex8>","targets":[{"id":"<instance>"}]}'),
    ), throttled="Throttling"),
    "eks": Service("eks.amazonaws.com", (
        _r("DescribeCluster", 5, '{"name":"<cluster>"}'), _r("ListClusters", 2, "{}"), _r("ListNodegroups", 2, '{"name":"<cluster>"}'),
        _r("DescribeNodegroup", 2, '{"name":"<cluster>","nodegroupName":"<cluster>-ng-1"}'), _r("ListAddons", 0.5, '{"name":"<cluster>"}'),
        _w("UpdateNodegroupConfig", 0.1, '{"name":"<cluster>","nodegroupName":"<cluster>-ng-1","scalingConfig":{"desiredSize":4}}'),
    ), denied="AccessDeniedException"),
    "rds": Service("rds.amazonaws.com", (
        _r("DescribeDBInstances", 5, "{}"), _r("DescribeDBClusters", 3, "{}"), _r("DescribeDBSnapshots", 1.5, '{"dBInstanceIdentifier":"<db>"}'),
        _r("DescribeEvents", 1, '{"sourceType":"db-instance","duration":1440}'), _r("DescribeDBLogFiles", 0.5, '{"dBInstanceIdentifier":"<db>"}'),
        _r("DownloadDBLogFilePortion", 0.3, '{"dBInstanceIdentifier":"<db>","logFileName":"error/postgresql.log"}'),
        _w("CreateDBSnapshot", 0.2, '{"dBSnapshotIdentifier":"<db>-manual-<hex8>","dBInstanceIdentifier":"<db>"}'),
        _w("ModifyDBInstance", 0.1, '{"dBInstanceIdentifier":"<db>","backupRetentionPeriod":14,"applyImmediately":false}'),
    ), throttled="Throttling"),
    "route53": Service("route53.amazonaws.com", (
        _r("ListHostedZones", 3, "{}"), _r("ListResourceRecordSets", 4, '{"hostedZoneId":"<zone>"}'), _r("GetHostedZone", 1, '{"id":"<zone>"}'),
        _w("ChangeResourceRecordSets", 0.4, '{"hostedZoneId":"<zone>","changeBatch":{"changes":[{"action":"UPSERT"}]}}'),
        _r("GetChange", 0.4, '{"id":"C0<hex8>ABCDEF"}'),
    ), throttled="Throttling", is_global=True),
    "iam": Service("iam.amazonaws.com", (
        _r("ListRoles", 4, "{}"), _r("GetRole", 4, '{"roleName":"<role>"}', _ROLE), _r("ListUsers", 3, "{}"), _r("GetUser", 2, '{"userName":"<user>"}', _USER),
        _r("ListAttachedRolePolicies", 2, '{"roleName":"<role>"}'), _r("ListAttachedUserPolicies", 1.5, '{"userName":"<user>"}'),
        _r("ListRolePolicies", 1, '{"roleName":"<role>"}'), _r("ListPolicies", 2, '{"scope":"Local","onlyAttached":false}'),
        _r("GetPolicy", 1.5, '{"policyArn":"arn:aws:iam::<account>:policy/<role>-policy"}'),
        _r("GetPolicyVersion", 1.5, '{"policyArn":"arn:aws:iam::<account>:policy/<role>-policy","versionId":"v<n>"}'),
        _r("ListAccessKeys", 1.5, '{"userName":"<user>"}'), _r("ListGroups", 1, "{}"), _r("ListMFADevices", 0.5, '{"userName":"<user>"}'),
        _r("GetAccountSummary", 0.5, "{}"), _r("ListInstanceProfiles", 0.5, "{}"),
        _w("GenerateCredentialReport", 0.2, "{}"), _r("GetCredentialReport", 0.2, "{}"),
        _r("GetAccountAuthorizationDetails", 0.08, '{"filter":["User","Role","Group","LocalManagedPolicy"]}'),
        Api("CreateAccessKey", 0.06, False, '{"userName":"<user>"}', _USER, "user",
            '{"accessKey":{"userName":"<user>","accessKeyId":"AKIA<key16>","status":"Active"}}'),
        _w("UpdateAccessKey", 0.05, '{"userName":"<user>","accessKeyId":"<akia>","status":"Inactive"}', _USER, target="user"),
        _w("DeleteAccessKey", 0.05, '{"userName":"<user>","accessKeyId":"<akia>"}', _USER, target="user"),
        _w("CreateRole", 0.05, '{"roleName":"<role>-v2","assumeRolePolicyDocument":"{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Principal\\":{\\"Service\\":\\"lambda.amazonaws.com\\"},\\"Action\\":\\"sts:AssumeRole\\"}]}"}', target="role"),
        _w("AttachRolePolicy", 0.08, '{"roleName":"<role>","policyArn":"arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"}', _ROLE, target="role"),
        _w("PutRolePolicy", 0.04, '{"roleName":"<role>","policyName":"inline-s3-read","policyDocument":"{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Action\\":[\\"s3:GetObject\\"],\\"Resource\\":\\"arn:aws:s3:::<bucket>/*\\"}]}"}', _ROLE, target="role"),
        _w("TagRole", 0.05, '{"roleName":"<role>","tags":[{"key":"Owner","value":"platform"}]}', _ROLE, target="role"),
    ), throttled="Throttling", is_global=True),
    "organizations": Service("organizations.amazonaws.com", (
        _r("DescribeOrganization", 3, "{}"), _r("ListAccounts", 3, "{}"), _r("DescribeAccount", 1, '{"accountId":"<account>"}'),
        _r("ListOrganizationalUnitsForParent", 1, '{"parentId":"r-<hex4>"}'), _r("ListRoots", 0.5, "{}"),
        _r("ListPoliciesForTarget", 0.5, '{"targetId":"<account>","filter":"SERVICE_CONTROL_POLICY"}'),
        _r("ListAccountsForParent", 0.5, '{"parentId":"ou-<hex4>-<hex8>"}'),
    ), denied="AccessDeniedException", throttled="TooManyRequestsException", is_global=True),
    "sso": Service("sso.amazonaws.com", (
        _r("ListPermissionSets", 2, '{"instanceArn":"arn:aws:sso:::instance/ssoins-<hex8><hex8>"}'),
        _r("DescribePermissionSet", 2, '{"instanceArn":"arn:aws:sso:::instance/ssoins-<hex8><hex8>","permissionSetArn":"arn:aws:sso:::permissionSet/ssoins-<hex8><hex8>/ps-<hex8><hex8>"}'),
        _r("ListAccountAssignments", 2, '{"accountId":"<account>"}'), _r("ListInstances", 1, "{}"),
        _w("CreateAccountAssignment", 0.1, '{"targetId":"<account>","targetType":"AWS_ACCOUNT","principalType":"GROUP"}'),
    ), denied="AccessDeniedException"),
    "cloudtrail": Service("cloudtrail.amazonaws.com", (
        _r("DescribeTrails", 3, '{"includeShadowTrails":true}'), _r("GetTrailStatus", 2, '{"name":"arn:aws:cloudtrail:<region>:<account>:trail/org-trail"}'),
        _r("LookupEvents", 4, '{"maxResults":50}'), _r("GetEventSelectors", 1, '{"trailName":"org-trail"}'), _r("ListTrails", 1, "{}"),
    ), throttled="ThrottlingException"),
    "config": Service("config.amazonaws.com", (
        _r("DescribeConfigRules", 2, "{}"), _r("DescribeComplianceByConfigRule", 2, "{}"),
        _r("GetComplianceDetailsByConfigRule", 1.5, '{"configRuleName":"s3-bucket-public-read-prohibited"}'),
        _r("DescribeConfigurationRecorders", 1, "{}"), _r("SelectResourceConfig", 1, '{"expression":"SELECT resourceId WHERE resourceType = \'AWS::S3::Bucket\'"}'),
        _r("GetResourceConfigHistory", 1, '{"resourceType":"AWS::S3::Bucket","resourceId":"<bucket>"}'),
        _w("PutEvaluations", 2, '{"resultToken":"<hex8>"}'),
    ), denied="AccessDeniedException"),
    "securityhub": Service("securityhub.amazonaws.com", (
        _r("GetFindings", 6, '{"maxResults":100}'), _w("BatchUpdateFindings", 1, '{"workflow":{"status":"NOTIFIED"}}'),
        _r("GetInsights", 1, "{}"), _r("GetInsightResults", 1, "{}"), _r("DescribeHub", 0.5, "{}"), _r("GetEnabledStandards", 0.5, "{}"),
    ), denied="AccessDeniedException", throttled="TooManyRequestsException"),
    "guardduty": Service("guardduty.amazonaws.com", (
        _r("ListDetectors", 3, "{}"), _r("GetDetector", 1, '{"detectorId":"<hex8><hex8><hex8><hex8>"}'),
        _r("ListFindings", 4, '{"detectorId":"<hex8><hex8><hex8><hex8>","maxResults":50}'), _r("GetFindings", 4, '{"detectorId":"<hex8><hex8><hex8><hex8>"}'),
        _r("GetFindingsStatistics", 2, '{"findingStatisticTypes":["COUNT_BY_SEVERITY"]}'), _w("ArchiveFindings", 0.3, '{"detectorId":"<hex8><hex8><hex8><hex8>"}'),
    ), denied="AccessDeniedException"),
    "kms": Service("kms.amazonaws.com", (
        Api("Decrypt", 10, True, '{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","keyId":"arn:aws:kms:<region>:<account>:key/<kms_key>"}', _KMS),
        Api("GenerateDataKey", 6, True, '{"keyId":"arn:aws:kms:<region>:<account>:key/<kms_key>","keySpec":"AES_256"}', _KMS),
        Api("Encrypt", 1, True, '{"keyId":"arn:aws:kms:<region>:<account>:key/<kms_key>","encryptionAlgorithm":"SYMMETRIC_DEFAULT"}', _KMS),
        _r("DescribeKey", 2, '{"keyId":"<kms_key>"}', _KMS), _r("ListKeys", 1, "{}"), _r("ListAliases", 1, "{}"),
        _r("GetKeyPolicy", 0.3, '{"keyId":"<kms_key>","policyName":"default"}', _KMS), _r("GetKeyRotationStatus", 0.3, '{"keyId":"<kms_key>"}', _KMS),
    ), denied="AccessDeniedException"),
    "access-analyzer": Service("access-analyzer.amazonaws.com", (
        _r("ListAnalyzers", 1, "{}"), _r("ListFindings", 2, '{"analyzerArn":"arn:aws:access-analyzer:<region>:<account>:analyzer/org-analyzer"}'),
        _r("GetFinding", 1, '{"analyzerArn":"arn:aws:access-analyzer:<region>:<account>:analyzer/org-analyzer","id":"<qid>"}'),
        _r("ListAnalyzedResources", 1, '{"resourceType":"AWS::S3::Bucket"}'), _r("ValidatePolicy", 0.5, '{"policyType":"IDENTITY_POLICY"}'),
    ), denied="AccessDeniedException"),
    "ce": Service("ce.amazonaws.com", (
        _r("GetCostAndUsage", 5, '{"granularity":"DAILY","metrics":["UnblendedCost"]}'), _r("GetCostForecast", 2, '{"metric":"UNBLENDED_COST","granularity":"MONTHLY"}'),
        _r("GetDimensionValues", 1, '{"dimension":"SERVICE"}'), _r("GetReservationUtilization", 0.5, "{}"), _r("GetSavingsPlansUtilization", 0.5, "{}"),
    ), denied="AccessDeniedException", throttled="LimitExceededException", is_global=True),
    "budgets": Service("budgets.amazonaws.com", (
        _r("DescribeBudgets", 3, '{"accountId":"<account>"}'), _r("DescribeBudgetPerformanceHistory", 1, '{"accountId":"<account>","budgetName":"monthly-total"}'),
        _r("DescribeNotificationsForBudget", 1, '{"accountId":"<account>","budgetName":"monthly-total"}'),
        _w("UpdateBudget", 0.1, '{"accountId":"<account>","newBudget":{"budgetName":"monthly-total","budgetType":"COST"}}'),
    ), denied="AccessDeniedException", is_global=True),
    "athena": Service("athena.amazonaws.com", (
        _w("StartQueryExecution", 4, '{"queryString":"SELECT * FROM analytics.events WHERE dt = current_date LIMIT 100","workGroup":"primary","resultConfiguration":{"outputLocation":"s3://<bucket>/athena-results/"}}'),
        _r("GetQueryExecution", 8, '{"queryExecutionId":"<qid>"}'), _r("GetQueryResults", 4, '{"queryExecutionId":"<qid>","maxResults":1000}'),
        _r("GetWorkGroup", 1, '{"workGroup":"primary"}'), _r("ListDatabases", 1, '{"catalogName":"AwsDataCatalog"}'),
        _r("GetTableMetadata", 1, '{"catalogName":"AwsDataCatalog","databaseName":"analytics","tableName":"events"}'),
    ), denied="AccessDeniedException"),
    "glue": Service("glue.amazonaws.com", (
        _r("GetTable", 5, '{"databaseName":"analytics","name":"events"}'), _r("GetTables", 3, '{"databaseName":"analytics"}'),
        _r("GetDatabase", 2, '{"name":"analytics"}'), _r("GetDatabases", 1.5, "{}"), _r("GetPartitions", 3, '{"databaseName":"analytics","tableName":"events"}'),
        _r("BatchGetPartition", 1, '{"databaseName":"analytics","tableName":"events"}'), _w("StartCrawler", 0.2, '{"name":"analytics-crawler"}'),
        _r("GetCrawler", 0.5, '{"name":"analytics-crawler"}'), _w("StartJobRun", 0.2, '{"jobName":"daily-aggregate"}'),
    ), denied="AccessDeniedException"),
    "lakeformation": Service("lakeformation.amazonaws.com", (
        _r("GetDataAccess", 5, '{"tableArn":"arn:aws:glue:<region>:<account>:table/analytics/events","permissions":["SELECT"]}'),
        _r("ListPermissions", 1, "{}"), _r("GetEffectivePermissionsForPath", 0.5, '{"resourceArn":"arn:aws:s3:::<bucket>"}'),
        _r("GetResourceLFTags", 0.5, "{}"),
    ), denied="AccessDeniedException"),
    "sqs": Service("sqs.amazonaws.com", (
        _r("GetQueueUrl", 3, '{"queueName":"<queue>"}'),
        _r("GetQueueAttributes", 4, '{"queueUrl":"https://sqs.<region>.amazonaws.com/<account>/<queue>","attributeNames":["ApproximateNumberOfMessages"]}'),
        _r("ListQueues", 2, "{}"), _r("ListQueueTags", 0.5, '{"queueUrl":"https://sqs.<region>.amazonaws.com/<account>/<queue>"}'),
    ), denied="AccessDenied", throttled="RequestThrottled"),
    "dynamodb": Service("dynamodb.amazonaws.com", (
        _r("DescribeTable", 5, '{"tableName":"<table>"}', _TABLE), _r("ListTables", 1, "{}"),
        _r("DescribeTimeToLive", 0.5, '{"tableName":"<table>"}', _TABLE), _r("DescribeContinuousBackups", 0.5, '{"tableName":"<table>"}', _TABLE),
    ), denied="AccessDeniedException"),
    "ssm": Service("ssm.amazonaws.com", (
        _r("GetParameter", 6, '{"name":"<param>","withDecryption":true}'), _r("GetParameters", 3, '{"names":["<param>"],"withDecryption":true}'),
        _r("GetParametersByPath", 3, '{"path":"/prod/","recursive":true,"withDecryption":true}'),
        _w("UpdateInstanceInformation", 4, '{"instanceId":"<instance>","agentVersion":"3.3.<n>.0","platformType":"Linux","agentName":"amazon-ssm-agent"}'),
        _r("ListInstanceAssociations", 2, '{"instanceId":"<instance>"}'), _r("DescribeInstanceInformation", 1, "{}"),
    ), denied="AccessDeniedException"),
    "secretsmanager": Service("secretsmanager.amazonaws.com", (
        _r("GetSecretValue", 6, '{"secretId":"<secret>"}', _SECRET), _r("DescribeSecret", 2, '{"secretId":"<secret>"}', _SECRET),
        _r("ListSecrets", 0.5, "{}"),
    ), denied="AccessDeniedException"),
    "ecs": Service("ecs.amazonaws.com", (
        _r("DescribeServices", 3, '{"cluster":"<cluster>","services":["api"]}'), _r("DescribeTasks", 3, '{"cluster":"<cluster>","tasks":["<hex8>"]}'),
        _r("ListTasks", 3, '{"cluster":"<cluster>"}'), _r("DescribeClusters", 1, '{"clusters":["<cluster>"]}'), _r("ListServices", 1, '{"cluster":"<cluster>"}'),
        _r("DescribeTaskDefinition", 1, '{"taskDefinition":"api"}'), _w("RegisterTaskDefinition", 0.3, '{"family":"api","networkMode":"awsvpc"}'),
        _w("UpdateService", 0.5, '{"cluster":"<cluster>","service":"api","forceNewDeployment":true}'),
    ), denied="AccessDeniedException"),
    "sts": Service("sts.amazonaws.com", (
        _r("GetCallerIdentity", 5, None), Api("AssumeRole", 3, True, '{"roleArn":"arn:aws:iam::<account>:role/<role>","roleSessionName":"<user>-<n>","durationSeconds":3600}', _ROLE,
                                              response='{"credentials":{"accessKeyId":"ASIA<key16>","sessionToken":"IQoJb3JpZ2luX2VjE<hex8>"},"assumedRoleUser":{"assumedRoleId":"AROA<key16>:<user>-<n>","arn":"arn:aws:sts::<account>:assumed-role/<role>/<user>-<n>"}}'),
        _r("GetSessionToken", 0.3, '{"durationSeconds":43200}'),
    ), denied="AccessDenied", throttled="Throttling"),
}

#: What AWS service principals do in each account: the service-linked (or service) role and
#: session they act as, and ``(family, eventName, weight)`` of their calls.  Every service
#: principal also calls ``sts:AssumeRole`` itself (userIdentity type AWSService).
SERVICE_LINKED_CALLS: dict[str, tuple[str, str, tuple[tuple[str, str, float], ...]]] = {
    "autoscaling.amazonaws.com": ("aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", "AutoScaling", (
        ("ec2", "DescribeInstances", 4), ("ec2", "DescribeInstanceStatus", 3), ("ec2", "RunInstances", 0.2),
        ("ec2", "TerminateInstances", 0.2), ("elb", "DescribeTargetHealth", 1))),
    "config.amazonaws.com": ("aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig", "AWSConfig-Describe", (
        ("ec2", "DescribeSecurityGroups", 3), ("ec2", "DescribeInstances", 3), ("iam", "GetRole", 2),
        ("s3", "GetBucketPolicy", 1), ("s3", "GetBucketAcl", 1), ("config", "PutEvaluations", 2))),
    "access-analyzer.amazonaws.com": ("aws-service-role/access-analyzer.amazonaws.com/AWSServiceRoleForAccessAnalyzer", "access-analyzer", (
        ("iam", "GetRole", 3), ("iam", "ListRoles", 1), ("s3", "GetBucketPolicy", 2), ("s3", "GetBucketAcl", 1), ("kms", "GetKeyPolicy", 1))),
    "cloudformation.amazonaws.com": ("{company}-cloudformation-exec", "AWSCloudFormation", (
        ("ec2", "DescribeInstances", 2), ("iam", "GetRole", 2), ("lambda", "GetFunction20150331v2", 1), ("s3", "GetBucketLocation", 1))),
    "lambda.amazonaws.com": ("", "", ()),
    "ec2.amazonaws.com": ("", "", (("kms", "GenerateDataKey", 1), ("kms", "Decrypt", 1))),
}

PLACEHOLDER = re.compile(r"<([a-z0-9_]+)>")


def _stable_hex(*parts: object, length: int = 32) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def _kms_id(*parts: object) -> str:
    h = _stable_hex(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def resource_pools(org: Org) -> dict[str, dict[str, list[str]]]:
    """Per placeholder, per account id: the org's resource names a template slot draws from.

    Derived from the org only (stable ids are hashes of the seed), so background and
    stories agree on names.  Every account has every placeholder's pool non-empty.
    """
    c = org.company
    pools: dict[str, dict[str, list[str]]] = {}
    for a in org.accounts:
        inst = [i.id for i in org.instances if i.account.id == a.id] or [f"i-0{_stable_hex(org.seed, a.id, 'i', length=16)}"]
        users = [p.name for p in org.principals if p.kind == "IAMUser" and p.account.id == a.id] or [f"svc-{a.role}-readonly"]
        roles = sorted({i.role_name for i in org.instances if i.account.id == a.id}) + [
            "OrganizationAccountAccessRole", f"{c}-deploy-role", f"{c}-cloudformation-exec", f"{c}-readonly-audit"]
        fns = [f for (acct, _r, f) in org.lambda_functions if acct == a.id] or [f"{c}-{a.role}-housekeeping"]
        env = "prod" if a.role == "production" else a.role
        pools_a = {
            "bucket": [b for b in org.buckets[a.id] if b not in org.sensitive_buckets],
            "instance": inst, "user": users, "role": roles, "function": fns,
            "kms_key": [_kms_id(org.seed, a.id, k) for k in range(3)],
            "stack": [f"{c}-{env}-{s}" for s in ("network", "app", "data", "observability")],
            "queue": [f"{c}-{env}-{q}" for q in ("orders", "events", "dlq")],
            "table": [f"{c}-{env}-{t}" for t in ("sessions", "orders", "feature-flags")],
            "param": [f"/{env}/{s}" for s in ("app/db_host", "app/api_url", "app/feature_flags", "shared/datadog_api_key")],
            "secret": [f"{env}/{s}-{_stable_hex(org.seed, a.id, s, length=6)}" for s in ("app/db-credentials", "app/stripe-key", "ci/github-token")],
            "cluster": [n for (acct, _r, n) in org.eks_clusters if acct == a.id] or [f"{c}-{env}-ecs"],
            "repo": [f"{c}/{r}" for r in ("api", "web", "worker")],
            "db": [f"{c}-{env}-db", f"{c}-{env}-analytics"],
            "zone": [f"Z0{_stable_hex(org.seed, a.id, 'zone', length=12).upper()}"],
            "akia": [k for p in org.principals if p.kind == "IAMUser" and p.account.id == a.id for k in p.access_keys] or ["AKIA" + _stable_hex(org.seed, a.id, length=16).upper()],
        }
        for k, v in pools_a.items():
            pools.setdefault(k, {})[a.id] = v
    return pools


def fill_template(template: str | None, accounts: np.ndarray, regions: np.ndarray, pools: Mapping[str, Mapping[str, list[str]]],
                  rng: np.random.Generator, overrides: Mapping[str, np.ndarray] | None = None) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """Fill ``template``'s ``<placeholders>`` per event; return ``(strings, {placeholder: values})``.

    ``accounts``/``regions`` give each event's recipient account and region (``<account>``,
    ``<region>``); pool placeholders draw from that account's pool; ``<hex8>``, ``<hex4>``,
    ``<n>``, ``<qid>`` (UUID) and ``<key16>`` (16 upper-case chars) are random; ``overrides`` supplies values directly (arrays or Arrow arrays).
    A ``None`` template gives nulls.  Vectorized: one Arrow join per template.
    """
    n = len(accounts)
    if template is None:
        return pa.nulls(n, pa.string()), {}
    overrides = dict(overrides or {})
    parts = PLACEHOLDER.split(template)
    values: dict[str, np.ndarray] = {}
    for name in parts[1::2]:
        if name in values:
            continue
        if name in overrides:
            values[name] = overrides[name]
        elif name == "account":
            values[name] = np.asarray(accounts, dtype=object)
        elif name == "region":
            values[name] = np.asarray(regions, dtype=object)
        elif name in ("hex8", "hex4"):
            values[name] = hex_ids(rng, n, 8 if name == "hex8" else 4).astype(object)
        elif name == "n":
            values[name] = rng.integers(1, 400, n).astype(str).astype(object)
        elif name == "qid":
            values[name] = np.asarray(uuids(rng, n).to_numpy(zero_copy_only=False), dtype=object)
        elif name == "key16":
            values[name] = random_strings(rng, n, 16).astype(object)
        else:
            out = np.empty(n, dtype=object)
            pool = pools[name]
            for acct in sorted(set(np.asarray(accounts, dtype=object).tolist())):
                m = accounts == acct
                choices = np.asarray(pool[acct], dtype=object)
                out[m] = choices[rng.integers(0, len(choices), int(m.sum()))]
            values[name] = out
    pieces = [(values[p] if isinstance(values[p], pa.Array) else pa.array(values[p], pa.string())) if i % 2 else pa.scalar(p, pa.string()) for i, p in enumerate(parts) if i % 2 or p]
    if not any(isinstance(x, pa.Array) for x in pieces):  # a template without placeholders
        return pa.array(np.full(n, template, dtype=object), pa.string()), values
    return pc.binary_join_element_wise(*pieces, ""), values
