"""EKS control-plane audit background for the org's clusters (``org.eks_clusters``), as ``eks_audit_2_0`` rows.

Kubelets (``system:node:ip-…``) renew leases and report status, controllers reconcile, the CI
user deploys (get/patch deployments, create configmaps and jobs), engineers use ``kubectl``
(get pods and logs, exec, now and then a forbidden secrets list), and rarely ``system:anonymous``
probes the public endpoint and gets 403.  Vocabulary (reference §1.3): ``api.operation`` = the
k8s verb; activity create→Create 1, get/list/watch→Read 2, update/patch→Update 3, delete→Delete 4;
``actor.session.issuer`` the IAM role mapped through aws-auth; ``message`` ``ResponseComplete``.

A request table (actor × request, a few hundred combinations) is built per cluster; events draw
rows of it, so nothing loops per event.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import (class_columns, diurnal_times, observables, partition_columns, pick, pick_or_null, repeat,
                      same_list, string_map, uuids)
from slake_forensics.sample.org import HOSTING_NETS, Org
from slake_forensics.sample.writer import build_table, list_of_structs
from slake_forensics.sample.sources.vpc_flow import random_public_ips

SOURCE = SOURCES["eks_audit"]
ROWS_PER_DAY = 1_800
VERB_ACTIVITY = {"create": 1, "get": 2, "list": 2, "watch": 2, "update": 3, "patch": 3, "delete": 4}
K8S = "v1.29.3"
KUBECTL_UA = f"kubectl/{K8S} (linux/amd64) kubernetes/6813625"
APPS = {"orders": ("orders-api", "orders-worker"), "checkout": ("checkout-web",), "payments": ("payments-api",), "monitoring": ("prometheus",)}
#: share of events by actor kind
KIND_SHARE = {"kubelet": 0.50, "controller": 0.30, "ci": 0.08, "human": 0.115, "anonymous": 0.005}


def _h(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _req(verb: str, group: str, version: str, resource: str, ns: str | None, name: str | None, sub: str | None = None,
         code: int | None = None) -> dict[str, Any]:
    """One request: path, resource fields and response code."""
    base = "/api/v1" if not group else f"/apis/{group}/{version}"
    path = base + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")
    if verb == "watch":
        path += "?allowWatchBookmarks=true&watch=true"
    return {"verb": verb, "group": group or None, "version": version, "resource": resource, "ns": ns, "name": name,
            "sub": sub, "path": path, "code": code or (201 if verb == "create" else 200)}


def _combos(org: Org, rng: np.random.Generator, account: str, region: str, cluster: str) -> list[dict[str, Any]]:
    """The cluster's request table: actor fields, request fields and a weight per row."""
    nodes = [i for i in org.instances if i.purpose == "eks-node" and i.account.id == account] or \
        [i for i in org.instances if i.account.id == account][:2]
    pods = {app: f"{app}-{_h(org.seed, app)[:10]}-{_h(org.seed, app, 'p')[:5]}" for apps in APPS.values() for app in apps}
    rows: list[dict[str, Any]] = []

    def add(kind: str, actor: dict[str, Any], reqs: Sequence[tuple[dict[str, Any], float]]) -> None:
        for r, w in reqs:
            rows.append({"kind": kind, **actor, **r, "w": w})

    for node in nodes:
        name = node.hostname
        actor: dict[str, Any] = {"user": f"system:node:{name}", "uid": f"aws-iam-authenticator:{account}:AROA{_h(node.role_arn)[:17].upper()}",
                 "groups": ("system:bootstrappers", "system:nodes", "system:authenticated"), "issuer": node.role_arn,
                 "ip": node.private_ip, "ua": f"kubelet/{K8S}-eks-b1a3c4e (linux/amd64) kubernetes/1f9a2b3"}
        add("kubelet", actor, [(_req("update", "coordination.k8s.io", "v1", "leases", "kube-node-lease", name), 10),
                               (_req("patch", "", "v1", "nodes", None, name, "status"), 3), (_req("get", "", "v1", "nodes", None, name), 3),
                               (_req("watch", "", "v1", "pods", None, None), 1), (_req("get", "", "v1", "configmaps", "kube-system", "kube-proxy"), 0.5),
                               *[(_req("create", "", "v1", "serviceaccounts", ns, "default", "token"), 0.4) for ns in APPS],
                               *[(_req("patch", "", "v1", "pods", ns, pods[app], "status"), 0.5) for ns, apps in APPS.items() for app in apps]])
    cp_ip = f"172.16.{int(_h(cluster)[:2], 16) % 200}.{int(_h(cluster)[2:4], 16) % 250 + 2}"
    for comp, lease in (("system:kube-controller-manager", "kube-controller-manager"), ("system:kube-scheduler", "kube-scheduler")):
        actor = {"user": comp, "uid": None, "groups": ("system:authenticated",), "issuer": None, "ip": cp_ip,
                 "ua": f"{lease}/{K8S} (linux/amd64) kubernetes/1f9a2b3/leader-election"}
        add("controller", actor, [(_req("get", "coordination.k8s.io", "v1", "leases", "kube-system", lease), 6),
                                  (_req("update", "coordination.k8s.io", "v1", "leases", "kube-system", lease), 6)])
    for sa, reqs in (("replicaset-controller", [(_req("update", "apps", "v1", "replicasets", ns, f"{app}-{_h(app)[:10]}", "status"), 1) for ns, apps in APPS.items() for app in apps]),
                     ("deployment-controller", [(_req("update", "apps", "v1", "deployments", ns, app, "status"), 1) for ns, apps in APPS.items() for app in apps]),
                     ("endpointslice-controller", [(_req("update", "discovery.k8s.io", "v1", "endpointslices", ns, f"{app}-{_h(app)[:5]}"), 1) for ns, apps in APPS.items() for app in apps]),
                     ("aws-node", [(_req("list", "", "v1", "pods", None, None), 1), (_req("get", "", "v1", "nodes", None, nodes[0].hostname), 1)]),
                     ("coredns", [(_req("watch", "discovery.k8s.io", "v1", "endpointslices", None, None), 1), (_req("list", "", "v1", "namespaces", None, None), 0.3)])):
        ip = cp_ip if sa.endswith("controller") else nodes[0].private_ip
        actor = {"user": f"system:serviceaccount:kube-system:{sa}", "uid": _uuid(org.seed, cluster, sa),
                 "groups": ("system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"), "issuer": None,
                 "ip": ip, "ua": f"kube-controller-manager/{K8S} (linux/amd64) kubernetes/1f9a2b3/system:serviceaccount:kube-system:{sa}"
                 if sa.endswith("controller") else f"{sa}/{K8S}"}
        add("controller", actor, reqs)
    for p in org.principals_by(persona="cicd"):
        if p.account.id != account or "deploy" not in p.name:
            continue
        actor = {"user": "ci-deployer", "uid": f"aws-iam-authenticator:{account}:{p.principal_id}", "groups": ("ci:deployers", "system:authenticated"),
                 "issuer": None, "ip": p.ips[0], "ua": "Helm/3.14.2", "arn": p.arn}
        add("ci", actor, [r for ns, apps in APPS.items() if ns != "monitoring" for app in apps for r in
                          ((_req("get", "apps", "v1", "deployments", ns, app), 3), (_req("patch", "apps", "v1", "deployments", ns, app), 2),
                           (_req("create", "", "v1", "configmaps", ns, f"{app}-config-{_h(app, p.name)[:5]}"), 1),
                           (_req("create", "batch", "v1", "jobs", ns, f"{app}-migrate"), 0.3), (_req("list", "", "v1", "pods", ns, None), 1))])
    humans = [p for p in org.principals if p.kind == "AssumedRole" and p.persona in ("sre", "engineer") and p.account.id == account]
    for p in humans:
        group = "eks-sre" if p.persona == "sre" else "eks-developers"
        actor = {"user": f"{p.persona}:{p.name}", "uid": f"aws-iam-authenticator:{account}:{p.principal_id.split(':')[0]}",
                 "groups": (group, "system:authenticated"), "issuer": p.session_issuer, "ip": p.ips[int(rng.integers(0, len(p.ips)))],
                 "ua": KUBECTL_UA, "arn": p.arn}
        human_reqs: list[tuple[dict[str, Any], float]] = []
        for ns, apps in APPS.items():
            for app in apps:
                human_reqs += [(_req("list", "", "v1", "pods", ns, None), 3), (_req("get", "", "v1", "pods", ns, pods[app]), 2),
                         (_req("get", "", "v1", "pods", ns, pods[app], "log"), 2), (_req("get", "apps", "v1", "deployments", ns, app), 1),
                         (_req("list", "", "v1", "events", ns, None), 0.8)]
                if p.persona == "sre":
                    human_reqs += [(_req("create", "", "v1", "pods", ns, pods[app], "exec"), 0.4), (_req("delete", "", "v1", "pods", ns, pods[app]), 0.15)]
            human_reqs.append((_req("list", "", "v1", "secrets", ns, None, code=403), 0.1))
        human_reqs.append((_req("get", "", "v1", "pods", "orders", "orders-api-5c9f", code=404), 0.2))
        add("human", actor, human_reqs)
    scanners = random_public_ips(rng, 12, HOSTING_NETS)
    for ip in scanners:
        actor = {"user": "system:anonymous", "uid": None, "groups": ("system:unauthenticated",), "issuer": None, "ip": str(ip),
                 "ua": str(rng.choice(["Mozilla/5.0 zgrab/0.x", "python-requests/2.31.0", "Go-http-client/1.1"]))}
        add("anonymous", actor, [(_req("list", "", "v1", "secrets", "kube-system", None, code=403), 1),
                                 (_req("list", "", "v1", "pods", None, None, code=403), 1), (_req("list", "", "v1", "namespaces", None, None, code=403), 0.5)])
    return rows


def _uuid(*parts: object) -> str:
    h = _h(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def background(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """An ``eks_audit_2_0`` table of the clusters' audit events over the whole period (about 1.8k rows a day per cluster at scale 1)."""
    combos: list[dict[str, Any]] = []
    probs: list[np.ndarray] = []
    for c, (account, region, cluster) in enumerate(org.eks_clusters):
        rows = _combos(org, rng, account, region, cluster)
        kinds = np.array([r["kind"] for r in rows])
        w = np.array([r["w"] for r in rows], dtype=float)
        for kind, share in KIND_SHARE.items():  # normalise each actor kind to its share of events
            m = kinds == kind
            if m.any():
                w[m] = w[m] / w[m].sum() * share
        probs.append(w / w.sum() / len(org.eks_clusters))
        combos += [{**r, "account": account, "region": region, "cluster": cluster} for r in rows]
    n = int(rng.poisson(ROWS_PER_DAY * org.days * scale * len(org.eks_clusters)))
    if not combos:
        n = 0
    p = np.concatenate(probs) if probs else np.zeros(0)
    human_share = np.array([r["kind"] in ("human", "ci") for r in combos])
    # people work office hours, machines around the clock: draw the two time sets separately
    k_machine = rng.choice(len(combos), n, p=np.where(human_share, 0, p) / max(np.where(human_share, 0, p).sum(), 1e-12)) if n else np.zeros(0, "int64")
    n_people = int(round(n * p[human_share].sum())) if n else 0
    k_people = rng.choice(len(combos), n_people, p=np.where(human_share, p, 0) / p[human_share].sum()) if n_people else np.zeros(0, "int64")
    k_machine = k_machine[: n - n_people]
    t = np.concatenate([diurnal_times(org, rng, len(k_machine), flatness=0.95), diurnal_times(org, rng, n_people, peak_hour_utc=15, flatness=0.1)])
    k = np.concatenate([k_machine, k_people])
    order = np.argsort(t, kind="stable")
    t, k = t[order], k[order]
    n = len(k)

    def col(key: str) -> list[Any]:
        return [r.get(key) for r in combos]

    def pk(key: str) -> pa.Array:
        vals = col(key)
        return pick_or_null([v or "" for v in vals], k, np.array([v is not None for v in vals])[k])

    verbs = col("verb")
    activity = np.array([VERB_ACTIVITY[v] for v in verbs])[k]
    code = np.array(col("code"), dtype="int32")[k]
    cols = class_columns(6003, activity, 1)
    groups = col("groups")
    g_len = np.array([len(g) for g in groups])[k]
    g_off = np.concatenate([[0], np.cumsum(g_len)])
    g_start = np.concatenate([[0], np.cumsum([len(g) for g in groups])])[:-1]
    flat_groups = [x for g in groups for x in g]
    g_elem = np.repeat(g_start[k] - g_off[:-1], g_len) + np.arange(g_off[-1])
    write = np.isin(activity, [1, 3, 4])
    decision = np.where(code == 403, "forbid", "allow").astype(object)
    latency = rng.integers(2, 60, n) + np.where(np.isin(np.array(verbs)[k], ["watch"]), rng.integers(60_000, 600_000, n), 0)
    cols.update({
        "metadata.log_level": pick(["Metadata", "RequestResponse"], write.astype("int64")),
        "metadata.product.name": repeat("Amazon EKS", n), "metadata.product.vendor_name": repeat("AWS", n),
        "metadata.product.version": repeat("audit.k8s.io/v1", n), "metadata.product.feature.name": repeat("Elastic Kubernetes Service", n),
        "metadata.profiles": same_list(["cloud", "datetime"], n),
        "api.request.uid": uuids(rng, n), "api.operation": pick(verbs, k), "api.version": pk("version"),
        "api.group.name": pk("group"), "api.response.code": code,
        "api.response.message": pick_or_null(["Forbidden", "NotFound"], (code == 404).astype("int64"), code >= 400),
        "message": repeat("ResponseComplete", n),
        "http_request.url.path": pk("path"), "http_request.user_agent": pk("ua"),
        "actor.user.name": pk("user"), "actor.user.uid": pk("uid"),
        "actor.user.groups": list_of_structs(g_off, {"name": pick(flat_groups, g_elem)}, SOURCE.schema.field("actor").type.field("user").type.field("groups").type),
        "actor.session.issuer": pk("issuer"),
        "cloud.account.uid": pk("account"), "cloud.provider": repeat("AWS", n),
        "src_endpoint.ip": pk("ip"),
        "resources": list_of_structs(np.arange(n + 1), {"namespace": pk("ns"), "name": pk("name"), "type": pk("resource"), "version": pk("version")},
                                     SOURCE.schema.field("resources").type),
        "start_time_dt": t - latency, "time_dt": t, "time": t,
        "unmapped": string_map(n, [("annotations.authorization.k8s.io/decision", decision),
                                   ("objectRef.subresource", np.asarray(pk("sub").to_numpy(zero_copy_only=False), dtype=object)),
                                   ("user.extra.arn", np.asarray(pk("arn").to_numpy(zero_copy_only=False), dtype=object)),
                                   ("stage", repeat("ResponseComplete", n))]),
        "observables": observables(np.arange(0, 2 * n + 1, 2), pick(["src_endpoint.ip", "actor.user.name"], np.tile([0, 1], n)),
                                   _interleave(pk("ip"), pk("user")), np.tile([2, 4], n), SOURCE.schema.field("observables").type),
    })
    cols.update(partition_columns(pk("account"), pk("region")))
    return build_table(SOURCE, cols, n)


def _interleave(a: pa.Array, b: pa.Array) -> pa.Array:
    n = len(a)
    order = np.empty(2 * n, dtype="int64")
    order[0::2], order[1::2] = np.arange(n), np.arange(n) + n
    return pa.concat_arrays([a, b]).take(pa.array(order))
