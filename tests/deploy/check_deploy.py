#!/usr/bin/python3
"""Static checks of Tandem's deployment files (run by tests/deploy/check.sh).

    check_deploy.py dockerfile ROOT             Dockerfile vs deploy/packages/*.txt, image hygiene
    check_deploy.py compose ROOT                docker-compose.yml structure and secrets
    check_deploy.py k8s RENDERED.yaml NAME [--production]
                                                objects rendered by `kubectl kustomize`

Each check prints one line, "PASS <what>" or "FAIL <what>: <why>"; the exit status
is 1 when any check failed. Needs Debian's python3-yaml.
"""
import json
import os
import re
import shlex
import sys

import yaml

SERVICES = ("gateway", "enrolment", "matching", "feedback")
PORTS = {"gateway": 8080, "enrolment": 50051, "matching": 50052, "feedback": 50053}
DEFAULT_DRAIN_MS = 15000

failures = 0


def report(ok, what, why=""):
    global failures
    if ok:
        print("PASS %s" % what)
    else:
        failures += 1
        print("FAIL %s: %s" % (what, why))


def check(what, problems):
    """One check from a list of problems (empty: passed)."""
    problems = list(dict.fromkeys(problems))
    report(not problems, what, "; ".join(problems[:6]) + (" ..." if len(problems) > 6 else ""))


def package_list(path):
    """The packages of a deploy/packages list, parsed as deploy/lib.sh does."""
    names = []
    with open(path) as f:
        for line in f:
            if re.match(r"^\s*#", line):
                continue
            fields = line.split()
            if fields:
                names.append(fields[0])
    return names


# ---- Dockerfile ------------------------------------------------------------------

def dockerfile_instructions(path):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    out, buf = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if buf and line.lstrip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            parts = buf.strip().split(None, 1)
            out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
            buf = ""
    return out


def dockerfile_stages(instructions):
    stages = []
    for ins, args in instructions:
        if ins == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append({"from": words[0], "alias": alias, "ins": []})
        elif stages:
            stages[-1]["ins"].append((ins, args))
    return stages


def apt_install_packages(run):
    """Package names written literally after `apt-get install` in a RUN command."""
    names = []
    for m in re.finditer(r"apt-get\s+install\b(.*?)(?=&&|\|\||;|\||$)", run):
        for word in shlex.split(m.group(1)):
            if not word.startswith("-"):
                names.append(word)
    return names


def check_dockerfile(root):
    path = os.path.join(root, "deploy", "Dockerfile")
    lists = {name: package_list(os.path.join(root, "deploy", "packages", name + ".txt"))
             for name in ("build", "runtime", "local", "test")}
    all_listed = set().union(*lists.values())
    stages = dockerfile_stages(dockerfile_instructions(path))
    aliases = {s["alias"] for s in stages if s["alias"]}

    # Base images: builds on debian:bookworm, runs on debian:bookworm-slim.
    problems = []
    bases = [s["from"] for s in stages if s["from"] not in aliases]
    if "debian:bookworm" not in bases:
        problems.append("no stage FROM debian:bookworm")
    if "debian:bookworm-slim" not in bases:
        problems.append("no stage FROM debian:bookworm-slim")
    for b in bases:
        if b not in ("debian:bookworm", "debian:bookworm-slim"):
            problems.append("unexpected base image %s" % b)
    check("Dockerfile: multi-stage, built on debian:bookworm, run on debian:bookworm-slim",
          problems)

    def stage_uses_list(stage, listname):
        probs = []
        copied = any(i == "COPY" and "deploy/packages/%s.txt" % listname in a
                     for i, a in stage["ins"])
        installs = [a for i, a in stage["ins"] if i == "RUN" and "apt-get install" in a]
        if not copied:
            probs.append("does not COPY deploy/packages/%s.txt" % listname)
        if not installs:
            probs.append("installs nothing with apt-get")
        for run in installs:
            if "%s.txt" % listname not in run:
                probs.append("an apt-get install does not read %s.txt" % listname)
            for other in lists:
                if other != listname and "%s.txt" % other in run:
                    probs.append("an apt-get install reads %s.txt" % other)
            for pkg in apt_install_packages(run):
                if pkg not in lists[listname]:
                    probs.append("installs %s, which is not in %s.txt" % (pkg, listname))
        return probs

    for base, listname in (("debian:bookworm", "build"), ("debian:bookworm-slim", "runtime")):
        stage = next((s for s in stages if s["from"] == base), None)
        if stage is None:
            check("Dockerfile: %s stage installs deploy/packages/%s.txt" % (listname, listname),
                  ["no %s stage" % base])
            continue
        check("Dockerfile: %s stage installs exactly deploy/packages/%s.txt" % (listname, listname),
              stage_uses_list(stage, listname))

    problems = []
    for s in stages:
        for i, a in s["ins"]:
            if i == "RUN":
                for pkg in apt_install_packages(a):
                    if pkg not in all_listed:
                        problems.append("%s is in no deploy/packages list" % pkg)
    check("Dockerfile: every package named in an apt-get install is in a package list", problems)

    # The runtime stage and everything built on it.
    runtime = next((s for s in stages if s["from"] == "debian:bookworm-slim"), None)
    final_stages = [s for s in stages if s is runtime or s["from"] == (runtime or {}).get("alias")]
    problems = []
    if runtime is None:
        problems.append("no runtime stage")
    else:
        users = [a.split(":")[0].strip() for i, a in runtime["ins"] if i == "USER"]
        if not users:
            problems.append("the runtime stage sets no USER")
        elif users[-1] in ("root", "0"):
            problems.append("USER is root")
        for s in final_stages[1:]:
            for i, a in s["ins"]:
                if i == "USER" and a.split(":")[0].strip() in ("root", "0"):
                    problems.append("stage %s switches back to root" % s["alias"])
    check("Dockerfile: images run as a non-root user", problems)

    problems = []
    entry_stages = 0
    for s in final_stages:
        for i, a in s["ins"]:
            if i in ("ENTRYPOINT", "CMD"):
                try:
                    value = json.loads(a)
                    if not isinstance(value, list):
                        raise ValueError
                except ValueError:
                    problems.append("%s of stage %s is not exec form: %s" % (i, s["alias"], a))
                if i == "ENTRYPOINT":
                    entry_stages += 1
    if entry_stages == 0:
        problems.append("no ENTRYPOINT")
    entrypoint = os.path.join(root, "deploy", "docker-entrypoint.sh")
    if os.path.exists(entrypoint):
        with open(entrypoint) as f:
            script = f.read()
        # Every branch that starts a program must replace the shell (exec) so the
        # service is PID 1 and gets SIGTERM.
        for m in re.finditer(r'^\s+(?!exec\b)("?/usr/local/bin/tandem-|"?\$cmd"?\s)', script, re.M):
            problems.append("docker-entrypoint.sh starts a program without exec")
    check("Dockerfile: exec-form ENTRYPOINT/CMD, so SIGTERM reaches the service", problems)

    problems = []
    hc = [a for s in final_stages for i, a in s["ins"] if i == "HEALTHCHECK"]
    if not hc:
        problems.append("no HEALTHCHECK")
    for a in hc:
        if "/healthz" in a:
            continue
        if "docker-entrypoint.sh" in a and "healthcheck" in a and os.path.exists(entrypoint):
            if "${1:-/healthz}" not in script:
                problems.append("docker-entrypoint.sh healthcheck does not default to /healthz")
            if "curl" in script and "curl" not in lists["runtime"]:
                problems.append("the health check uses curl, which runtime.txt lacks")
        else:
            problems.append("HEALTHCHECK does not probe /healthz: %s" % a)
    check("Dockerfile: HEALTHCHECK on /healthz", problems)

    problems = []
    secret_name = re.compile(r"(PASSWORD|SECRET|TOKEN|BOOTSTRAP_KEY|API_KEY|DATABASE_URL)", re.I)
    for s in stages:
        for i, a in s["ins"]:
            if i in ("ENV", "ARG") and secret_name.search(a):
                problems.append("%s %s" % (i, a))
            if i in ("COPY", "ADD") and re.search(r"(^|\s|/)\.env(\s|$)|\.pem\b|id_rsa", a):
                problems.append("%s %s" % (i, a))
    check("Dockerfile: no secret baked in (ENV/ARG/COPY)", problems)

    problems = []
    ignore_path = os.path.join(root, ".dockerignore")
    if not os.path.exists(ignore_path):
        problems.append(".dockerignore is missing")
    else:
        with open(ignore_path) as f:
            patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        for must in (".git", ".env", "build*", ".tandem"):
            if must not in patterns:
                problems.append(".dockerignore does not exclude %s" % must)
        needed = [a.split()[0] for s in stages for i, a in s["ins"]
                  if i == "COPY" and not a.startswith("--from") and a.split()[0] != "."]
        for src in needed:
            for pat in patterns:
                if not pat.startswith("!") and (src == pat or src.startswith(pat.rstrip("/") + "/")):
                    problems.append(".dockerignore excludes %s, which the Dockerfile copies" % src)
    check(".dockerignore keeps .git, .env and build trees out, and what the build needs in",
          problems)


# ---- docker-compose.yml ----------------------------------------------------------

def check_compose(root):
    with open(os.path.join(root, "docker-compose.yml")) as f:
        doc = yaml.safe_load(f)
    services = doc.get("services", {})

    problems = []
    pg = services.get("postgres")
    if pg is None:
        problems.append("no postgres service")
    else:
        if not re.match(r"^(\$\{[A-Z_]+:-)?postgres:15", str(pg.get("image", ""))):
            problems.append("postgres image is not PostgreSQL 15: %s" % pg.get("image"))
        if not any(str(v).endswith(":/var/lib/postgresql/data") for v in pg.get("volumes", [])):
            problems.append("postgres has no data volume")
        if "healthcheck" not in pg:
            problems.append("postgres has no healthcheck")
    check("compose: PostgreSQL 15 with a volume and a health check", problems)

    problems = []
    for svc in SERVICES:
        s = services.get(svc)
        if s is None:
            problems.append("no %s service" % svc)
            continue
        hc = s.get("healthcheck", {})
        if not hc or hc.get("disable"):
            problems.append("%s has no healthcheck" % svc)
        deps = s.get("depends_on", {})
        if not isinstance(deps, dict) or \
                deps.get("postgres", {}).get("condition") != "service_healthy":
            problems.append("%s does not wait for postgres: service_healthy" % svc)
        env = s.get("environment", {})
        for var in ("TANDEM_DATABASE_URL", "TANDEM_MIGRATION_DATABASE_URL", "TANDEM_LISTEN"):
            if var not in env:
                problems.append("%s lacks %s" % (svc, var))
        if svc != "gateway" and s.get("ports"):
            problems.append("%s publishes a port" % svc)
    gw_deps = services.get("gateway", {}).get("depends_on", {})
    for svc in SERVICES[1:]:
        if not isinstance(gw_deps, dict) or gw_deps.get(svc, {}).get("condition") != "service_healthy":
            problems.append("gateway does not wait for %s: service_healthy" % svc)
    check("compose: four services with health checks and depends_on service_healthy", problems)

    problems = []
    published = [n for n, s in services.items() if s.get("ports")]
    if published != ["gateway"]:
        problems.append("services publishing ports: %s" % ", ".join(published) or "none")
    check("compose: only the gateway's port is published", problems)

    problems = []
    for svc in SERVICES:
        s = services.get(svc) or {}
        env = s.get("environment") or {}
        admin = str(env.get("TANDEM_ADMIN_LISTEN") or "")
        listen = str(env.get("TANDEM_LISTEN") or "")
        if not re.fullmatch(r".+:\d+", admin):
            problems.append("%s has no TANDEM_ADMIN_LISTEN host:port" % svc)
            continue
        admin_port = admin.rsplit(":", 1)[1]
        if listen.rsplit(":", 1)[-1] == admin_port:
            problems.append("%s serves its admin port on TANDEM_LISTEN's port" % svc)
        for p in s.get("ports") or []:
            if str(p).rsplit(":", 1)[-1].split("/")[0] == admin_port:
                problems.append("%s publishes its admin port %s" % (svc, admin_port))
        test = " ".join(str(t) for t in (s.get("healthcheck") or {}).get("test") or [])
        if "docker-entrypoint.sh healthcheck" not in test and ":%s/" % admin_port not in test:
            problems.append("%s's health check does not probe the admin port" % svc)
    check("compose: metrics and probes on TANDEM_ADMIN_LISTEN, a port never published",
          problems)

    problems = []
    secret_var = re.compile(r"(PASSWORD|BOOTSTRAP_KEY|DATABASE_URL)$")
    for name, s in services.items():
        env = s.get("environment", {})
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
        for var, value in env.items():
            if not secret_var.search(var):
                continue
            text = str(value)
            # Every secret is interpolated from .env and required (${VAR:?...}).
            if "PASSWORD" in var or "KEY" in var:
                if not re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", text):
                    problems.append("%s.%s is not a required ${VAR:?} from .env" % (name, var))
            elif re.search(r"://[^:/@]+:(?!\$\{)[^@]+@", text):
                problems.append("%s.%s has a literal password" % (name, var))
    example = os.path.join(root, ".env.example")
    if not os.path.exists(example):
        problems.append(".env.example is missing")
    else:
        with open(example) as f:
            for line in f:
                m = re.match(r"^([A-Z0-9_]*(PASSWORD|KEY))=(.*)$", line.strip())
                if m and m.group(3):
                    problems.append(".env.example gives %s a value" % m.group(1))
    check("compose: secrets only from .env (required, none in .env.example)", problems)


# ---- Kubernetes ------------------------------------------------------------------

def selector_matches(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def duration_of_prestop(container):
    cmd = (((container.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")
    if cmd and len(cmd) == 2 and cmd[0] == "sleep" and re.fullmatch(r"\d+", str(cmd[1])):
        return int(cmd[1])
    sleep = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep")
    if sleep and "seconds" in sleep:
        return int(sleep["seconds"])
    return 0


def admin_port_of(env):
    """The port number of TANDEM_ADMIN_LISTEN in a container's environment, or None."""
    value = str((env.get("TANDEM_ADMIN_LISTEN") or {}).get("value") or "")
    m = re.fullmatch(r".+:(\d+)", value)
    return int(m.group(1)) if m else None


def container_port_number(containers, port):
    """A probe's or Service's port (a name or a number) as a container port number."""
    for c in containers:
        for p in c.get("ports", []):
            if port in (p.get("name"), p["containerPort"]):
                return p["containerPort"]
    return port if isinstance(port, int) else None


def admin_port_problems(deployments, env_of):
    """Every container serves metrics and probes on TANDEM_ADMIN_LISTEN's port (a
    declared container port other than TANDEM_LISTEN's), and its probes go there."""
    problems = []
    for dname, d in sorted(deployments.items()):
        containers = d["spec"]["template"]["spec"]["containers"]
        for c in containers:
            where = "%s/%s" % (dname, c["name"])
            env = env_of(None, c)
            admin = admin_port_of(env)
            if admin is None:
                problems.append("%s has no TANDEM_ADMIN_LISTEN host:port" % where)
                continue
            listen = str((env.get("TANDEM_LISTEN") or {}).get("value") or "")
            if listen.rsplit(":", 1)[-1] == str(admin):
                problems.append("%s's admin port is TANDEM_LISTEN's" % where)
            if admin not in {p["containerPort"] for p in c.get("ports", [])}:
                problems.append("%s does not declare its admin port %d" % (where, admin))
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = (c.get(kind) or {}).get("httpGet")
                if get is not None and container_port_number(containers, get.get("port")) != admin:
                    problems.append("%s %s is not on the admin port" % (where, kind))
    return problems


def check_k8s(rendered, name, production):
    with open(rendered) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    configmaps = {o["metadata"]["name"]: o.get("data") or {} for o in by_kind.get("ConfigMap", [])}
    deployments = {o["metadata"]["name"]: o for o in by_kind.get("Deployment", [])}
    what = "k8s %s:" % name

    check("%s a Deployment per service" % what,
          ["no Deployment tandem-%s" % s for s in SERVICES if "tandem-%s" % s not in deployments])

    def env_of(pod, container):
        env = {}
        for src in container.get("envFrom") or []:
            ref = (src.get("configMapRef") or {}).get("name")
            if ref in configmaps:
                env.update({k: {"value": v} for k, v in configmaps[ref].items()})
        for e in container.get("env") or []:
            env[e["name"]] = e
        return env

    probes, resources, security, shutdown, secrets, services = [], [], [], [], [], []
    for dname, d in sorted(deployments.items()):
        pod = d["spec"]["template"]["spec"]
        pod_labels = d["spec"]["template"]["metadata"].get("labels", {})
        psc = pod.get("securityContext") or {}
        for c in pod["containers"]:
            where = "%s/%s" % (dname, c["name"])
            port_names = {p.get("name") for p in c.get("ports", [])} | \
                {p["containerPort"] for p in c.get("ports", [])}
            for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = (c.get(kind) or {}).get("httpGet") or {}
                if get.get("path") != path:
                    probes.append("%s %s is not httpGet %s" % (where, kind, path))
                elif get.get("port") not in port_names:
                    probes.append("%s %s port %s is not a container port" % (where, kind, get.get("port")))
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if not (res.get(part) or {}).get(r):
                        resources.append("%s has no %s.%s" % (where, part, r))
            csc = c.get("securityContext") or {}
            if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
                security.append("%s runAsNonRoot is not true" % where)
            if csc.get("runAsUser", psc.get("runAsUser")) == 0:
                security.append("%s runs as uid 0" % where)
            if csc.get("readOnlyRootFilesystem") is not True:
                security.append("%s readOnlyRootFilesystem is not true" % where)
            if csc.get("allowPrivilegeEscalation") is not False:
                security.append("%s allowPrivilegeEscalation is not false" % where)
            if csc.get("privileged"):
                security.append("%s is privileged" % where)
            if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
                security.append("%s capabilities.drop is not [ALL]" % where)
            if (csc.get("capabilities") or {}).get("add"):
                security.append("%s adds capabilities" % where)
            env = env_of(pod, c)
            drain_ms = int((env.get("TANDEM_DRAIN_TIMEOUT_MS") or {}).get("value") or DEFAULT_DRAIN_MS)
            if not ((c.get("lifecycle") or {}).get("preStop")):
                shutdown.append("%s has no preStop" % where)
            grace = pod.get("terminationGracePeriodSeconds", 30)
            need = drain_ms / 1000.0 + duration_of_prestop(c)
            if not grace > need:
                shutdown.append("%s terminationGracePeriodSeconds %s is not above preStop + drain (%gs)"
                                % (where, grace, need))
            for var in ("TANDEM_DATABASE_URL", "TANDEM_MIGRATION_DATABASE_URL", "TANDEM_BOOTSTRAP_KEY"):
                e = env.get(var)
                if e is None:
                    if var != "TANDEM_BOOTSTRAP_KEY":
                        secrets.append("%s lacks %s" % (where, var))
                    continue
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if not ref or not ref.get("name") or not ref.get("key"):
                    secrets.append("%s %s is not from a secretKeyRef" % (where, var))
            for var, e in env.items():
                if re.search(r"PASSWORD|SECRET|TOKEN", var) and "value" in e:
                    secrets.append("%s sets %s literally" % (where, var))
        # A Service in front of each Deployment, on its container port.
        ports = {p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])}
        svc = [s for s in by_kind.get("Service", [])
               if s["spec"].get("selector") and
               selector_matches({"matchLabels": s["spec"]["selector"]}, pod_labels)]
        if not svc:
            services.append("no Service selects %s" % dname)
        elif not any(p.get("port") in ports or p.get("targetPort") in ports or
                     p.get("targetPort") in {pp.get("name") for c in pod["containers"]
                                             for pp in c.get("ports", [])}
                     for s in svc for p in s["spec"].get("ports", [])):
            services.append("the Service of %s does not expose its port" % dname)
    check("%s readiness /readyz and liveness /healthz probes" % what, probes)
    check("%s metrics and probes on TANDEM_ADMIN_LISTEN's port, not the public one" % what,
          admin_port_problems(deployments, env_of))
    check("%s resource requests and limits" % what, resources)
    check("%s runAsNonRoot, readOnlyRootFilesystem, capabilities.drop [ALL]" % what, security)
    check("%s preStop and terminationGracePeriodSeconds above preStop + drain deadline" % what,
          shutdown)
    check("%s database URLs and bootstrap key from secretKeyRef" % what, secrets)
    check("%s a Service per Deployment" % what, services)

    gw = deployments.get("tandem-gateway")
    gw_labels = gw["spec"]["template"]["metadata"]["labels"] if gw else {}
    problems = []
    gw_pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
               if selector_matches(p["spec"].get("selector"), gw_labels)]
    if not gw_pdbs:
        problems.append("no PodDisruptionBudget selects the gateway's pods")
    elif any(p["spec"].get("maxUnavailable") != 1 for p in gw_pdbs):
        problems.append("the gateway's PodDisruptionBudget allows more than one pod "
                        "unavailable at a time (want maxUnavailable: 1)")
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", [])
            if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
            and h["spec"]["scaleTargetRef"].get("name") == "tandem-gateway"]
    if not hpas:
        problems.append("no HorizontalPodAutoscaler for the gateway")
    elif any(h["spec"].get("minReplicas", 1) < 2 for h in hpas):
        problems.append("the gateway HPA allows fewer than 2 replicas")
    check("%s PodDisruptionBudget and HorizontalPodAutoscaler for the gateway" % what, problems)

    # NetworkPolicies: default deny; internal services reachable only from Tandem pods;
    # PostgreSQL only from Tandem pods.
    problems = []
    policies = by_kind.get("NetworkPolicy", [])
    if not any(p["spec"].get("podSelector") == {} and "Ingress" in p["spec"].get("policyTypes", [])
               and not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress policy")
    tandem_pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
    for svc in SERVICES[1:]:
        labels = tandem_pods.get("tandem-%s" % svc)
        if labels is None:
            continue
        selecting = [p for p in policies if selector_matches(p["spec"].get("podSelector"), labels)
                     and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]
        reached_by_gateway = False
        for p in selecting:
            for rule in p["spec"].get("ingress") or []:
                peers = rule.get("from")
                if not peers:
                    problems.append("%s admits %s from anywhere" % (p["metadata"]["name"], svc))
                    continue
                for peer in peers:
                    if "ipBlock" in peer:
                        problems.append("%s admits an ipBlock to %s" % (p["metadata"]["name"], svc))
                    elif "namespaceSelector" in peer:
                        # Only the metrics scraper may come from another namespace.
                        ns = (peer["namespaceSelector"].get("matchLabels") or {})
                        if ns.get("kubernetes.io/metadata.name") != "monitoring" or "podSelector" not in peer:
                            problems.append("%s admits another namespace to %s" % (p["metadata"]["name"], svc))
                    elif selector_matches(peer.get("podSelector"), gw_labels):
                        reached_by_gateway = True
                    elif not any(selector_matches(peer.get("podSelector"), l) for l in tandem_pods.values()):
                        problems.append("%s admits non-Tandem pods to %s" % (p["metadata"]["name"], svc))
        if not reached_by_gateway:
            problems.append("no policy lets the gateway reach %s" % svc)
    pg_policies = [p for p in policies
                   if "cnpg.io/cluster" in ((p["spec"].get("podSelector") or {}).get("matchLabels") or {})]
    if not pg_policies:
        problems.append("no NetworkPolicy guards PostgreSQL")
    for p in pg_policies:
        for rule in p["spec"].get("ingress") or []:
            if 5432 not in [pt.get("port") for pt in rule.get("ports") or []]:
                continue
            for peer in rule.get("from") or [{}]:
                pod_sel = peer.get("podSelector")
                ns = ((peer.get("namespaceSelector") or {}).get("matchLabels") or {})
                if "ipBlock" in peer or peer == {}:
                    problems.append("%s admits anyone to PostgreSQL" % p["metadata"]["name"])
                elif "namespaceSelector" in peer:
                    if ns.get("kubernetes.io/metadata.name") != "cnpg-system":
                        problems.append("%s admits another namespace to PostgreSQL" % p["metadata"]["name"])
                elif pod_sel and "cnpg.io/cluster" in (pod_sel.get("matchLabels") or {}):
                    pass  # the cluster's own instances (replication)
                elif not any(selector_matches(pod_sel, l) for l in tandem_pods.values()):
                    if (pod_sel.get("matchLabels") or {}).get("app.kubernetes.io/name") != "tandem":
                        problems.append("%s admits non-Tandem pods to PostgreSQL" % p["metadata"]["name"])
    check("%s NetworkPolicies: default deny, only Tandem pods reach the services and PostgreSQL"
          % what, problems)

    problems = []
    for dname, d in deployments.items():
        ann = d["spec"]["template"]["metadata"].get("annotations") or {}
        containers = d["spec"]["template"]["spec"]["containers"]
        admin = {admin_port_of(env_of(None, c)) for c in containers} - {None}
        monitored = ann.get("prometheus.io/scrape") == "true"
        if monitored and str(ann.get("prometheus.io/port")) not in {str(p) for p in admin}:
            problems.append("%s is scraped on port %s, not its admin port"
                            % (dname, ann.get("prometheus.io/port")))
        labels = d["spec"]["template"]["metadata"]["labels"]
        svcs = [s for s in by_kind.get("Service", [])
                if selector_matches({"matchLabels": s["spec"].get("selector") or {}}, labels)]
        for sm in by_kind.get("ServiceMonitor", []):
            port_names = {e.get("port") for e in sm["spec"].get("endpoints", [])
                          if e.get("path", "/metrics") == "/metrics"}
            for s in svcs:
                if not selector_matches(sm["spec"].get("selector"), s["metadata"].get("labels", {})):
                    continue
                for p in s["spec"].get("ports", []):
                    if p.get("name") not in port_names:
                        continue
                    if container_port_number(containers, p.get("targetPort", p.get("port"))) in admin:
                        monitored = True
                    else:
                        problems.append("the ServiceMonitor scrapes %s on its port %s, not its "
                                        "admin port" % (dname, p.get("name")))
        if not monitored:
            problems.append("%s is neither annotated for scraping nor behind a ServiceMonitor" % dname)
    check("%s Prometheus scrapes /metrics of every service on its admin port" % what, problems)

    if production:
        problems = []
        for dname, d in deployments.items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                image = c.get("image", "")
                if ":" not in image.split("/")[-1] and "@" not in image or image.endswith(":latest"):
                    problems.append("%s uses an unpinned image %s" % (dname, image))
        if not by_kind.get("Namespace"):
            problems.append("no Namespace")
        for o in objs:
            if o["kind"] != "Namespace" and o["metadata"].get("namespace") is None:
                problems.append("%s/%s has no namespace" % (o["kind"], o["metadata"]["name"]))
        check("%s pinned images and a namespace of its own" % what, problems)

        problems = []
        for dname, d in deployments.items():
            for c in d["spec"]["template"]["spec"]["containers"]:
                value = (env_of(None, c).get("TANDEM_REFLECTION") or {}).get("value")
                if str(value) not in ("0", "false"):
                    problems.append("%s runs with TANDEM_REFLECTION=%s" % (dname, value))
        check("%s gRPC reflection off" % what, problems)


def main(argv):
    if len(argv) >= 3 and argv[1] == "dockerfile":
        check_dockerfile(argv[2])
    elif len(argv) >= 3 and argv[1] == "compose":
        check_compose(argv[2])
    elif len(argv) >= 4 and argv[1] == "k8s":
        check_k8s(argv[2], argv[3], "--production" in argv[4:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
