#!/usr/bin/env node
// BloodGrid Kubernetes manifest checks, run by scripts/check_k8s.sh (which installs the npm
// packages this needs into a cache and sets NODE_PATH).
//
//   schema   --tsdir DIR LABEL=FILE...   validate every object of the rendered files against the
//                                       Kubernetes API schemas (kubernetes-models' JSON-schema
//                                       validators), then strictly (unknown or misspelt fields
//                                       are errors) by type-checking them against the same
//                                       models' TypeScript declarations with tsc.
//   assert   [--label L] --target base|dev|prod FILE [...]
//                                       BloodGrid's deployment rules on rendered overlays (each
//                                       FILE checked as the --target before it).
//   secrets  K8S_DIR                    no Secret value committed under K8S_DIR outside
//                                       overlays/dev.
//   flags    --src ROOT FILE...         every --flag the Deployments pass is defined (ABSL_FLAG) in
//                                       common/ or the binary's own directory under ROOT; binaries
//                                       without a main.cc yet are listed as not checked.
//   dockerfile FILE                     the runtime stage of the image runs as a numeric non-root
//                                       user and installs no build tools.
//   selftest --work DIR --render FILE --k8s-dir DIR --tsdir DIR [--dockerfile FILE]
//                                       break copies of a good prod render, of the k8s tree and
//                                       of the Dockerfile in DIR and require each check above to
//                                       FAIL on them.
//
// Every check prints "PASS <id>: ..." or "FAIL <id>: ..." (details indented below); the exit
// status is non-zero when any check failed.
'use strict';

const fs = require('fs');
const path = require('path');
const childProcess = require('child_process');
const YAML = require('yaml');

// ---------------------------------------------------------------------------------------------
// Reporting

// Each check function returns a list of results {id, problems, okText}; printResults shows them.
function printResults(results) {
  let failed = 0;
  for (const {id, problems, okText} of results) {
    if (problems.length === 0) {
      console.log(`PASS ${id}: ${okText}`);
      continue;
    }
    failed++;
    console.log(`FAIL ${id}: ${problems.length} problem(s)`);
    for (const p of problems) console.log(`       - ${p}`);
  }
  return failed;
}

// ---------------------------------------------------------------------------------------------
// Loading

function loadDocs(file) {
  const text = fs.readFileSync(file, 'utf8');
  const docs = YAML.parseAllDocuments(text);
  const out = [];
  for (const d of docs) {
    if (d.errors && d.errors.length) {
      throw new Error(`${file}: YAML error: ${d.errors[0].message}`);
    }
    const js = d.toJS();
    if (js !== null && js !== undefined) out.push(js);
  }
  return out;
}

function writeDocs(file, docs) {
  fs.writeFileSync(file, docs.map((d) => YAML.stringify(d)).join('---\n'));
}

function ref(o) {
  return `${o.kind}/${(o.metadata && o.metadata.name) || '?'}`;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet', 'Pod']);
const LONG_RUNNING_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function podSpecOf(o) {
  if (o.kind === 'Pod') return o.spec || {};
  if (o.kind === 'CronJob') return (((o.spec || {}).jobTemplate || {}).spec || {}).template?.spec || {};
  return ((o.spec || {}).template || {}).spec || {};
}

function podLabelsOf(o) {
  if (o.kind === 'Pod') return (o.metadata || {}).labels || {};
  return (((o.spec || {}).template || {}).metadata || {}).labels || {};
}

function containersOf(spec) {
  return [...(spec.initContainers || []), ...(spec.containers || [])];
}

function isBloodGridDeployment(o) {
  return o.kind === 'Deployment' && podLabelsOf(o)['app.kubernetes.io/part-of'] === 'bloodgrid';
}

function appName(o) {
  return podLabelsOf(o)['app.kubernetes.io/name'];
}

// Does a LabelSelector (matchLabels only; matchExpressions count as not matching) select labels?
function selects(selector, labels) {
  if (!selector) return false;
  if (selector.matchExpressions && selector.matchExpressions.length) return false;
  const ml = selector.matchLabels || {};
  return Object.entries(ml).every(([k, v]) => labels[k] === v);
}

function isEmptySelector(selector) {
  return !!selector && Object.keys(selector.matchLabels || {}).length === 0 &&
      (selector.matchExpressions || []).length === 0;
}

// ---------------------------------------------------------------------------------------------
// schema

function modelModuleFor(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  const parts = apiVersion.split('/');
  const groupVersion = parts.length === 1 ? parts[0] : `${parts[0]}/${parts[1]}`;
  return `kubernetes-models/${groupVersion}/${kind}`;
}

function cmdSchema(args) {
  let tsdir = null;
  const inputs = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--tsdir') tsdir = args[++i];
    else inputs.push(args[i]);
  }
  if (!tsdir || inputs.length === 0) usage();
  return schemaChecks(inputs, tsdir);
}

// inputs: ["LABEL=FILE", ...]; tsdir: a directory below the npm prefix holding the models.
function schemaChecks(inputs, tsdir) {
  const results = [];
  const report = (id, problems, okText) => results.push({id, problems, okText});
  const objects = [];  // {label, obj, module}
  const jsonProblems = [];
  for (const input of inputs) {
    const eq = input.indexOf('=');
    const label = input.slice(0, eq);
    const file = input.slice(eq + 1);
    for (const obj of loadDocs(file)) {
      const where = `${label}: ${ref(obj)}`;
      const mod = modelModuleFor(obj.apiVersion, obj.kind);
      let Model = null;
      try {
        Model = mod && require(mod)[obj.kind];
      } catch (e) {
        Model = null;
      }
      if (typeof Model !== 'function') {
        jsonProblems.push(`${where}: no Kubernetes schema for apiVersion ${obj.apiVersion}, kind ${obj.kind}`);
        continue;
      }
      objects.push({where, obj, mod});
      try {
        new Model(obj).validate();
      } catch (e) {
        const errs = e.errors || [{instancePath: '', message: e.message}];
        for (const err of errs) {
          const extra = err.params && err.params.missingProperty ? '' :
              err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : '';
          jsonProblems.push(`${where}: ${err.instancePath || '/'} ${err.message}${extra}`);
        }
      }
    }
  }
  const count = objects.length;
  report('schema', jsonProblems, `${count} objects valid against the Kubernetes API JSON schemas`);

  // Strict pass: every object as a typed literal; tsc reports unknown fields (excess property
  // checks) and wrong types anywhere in the tree.
  fs.mkdirSync(tsdir, {recursive: true});
  const lines = [];
  const imports = new Map();
  for (const {mod} of objects) {
    if (!imports.has(mod)) imports.set(mod, `T${imports.size}`);
  }
  for (const [mod, alias] of imports) {
    const kind = mod.split('/').pop();
    lines.push(`import type { I${kind} as ${alias} } from ${JSON.stringify(mod)};`);
  }
  const ranges = [];  // {from, to, where}
  objects.forEach(({mod, obj, where}, i) => {
    const body = JSON.stringify(obj, null, 1).split('\n');
    const from = lines.length + 1;
    lines.push(`export const o${i}: ${imports.get(mod)} = ${body[0]}`);
    for (let j = 1; j < body.length; j++) lines.push(body[j]);
    lines[lines.length - 1] += ';';
    ranges.push({from, to: lines.length, where});
  });
  const tsFile = path.join(tsdir, 'rendered_objects.ts');
  fs.writeFileSync(tsFile, lines.join('\n') + '\n');
  fs.writeFileSync(path.join(tsdir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16',
      skipLibCheck: true, types: [],
      // Unchanged renders re-check in a fraction of the time.
      incremental: true, tsBuildInfoFile: 'rendered_objects.tsbuildinfo',
    },
    files: ['rendered_objects.ts'],
  }, null, 2));
  const tsc = require.resolve('typescript/bin/tsc');
  const run = childProcess.spawnSync(process.execPath, [tsc, '-p', path.join(tsdir, 'tsconfig.json')],
      {encoding: 'utf8'});
  const strictProblems = [];
  const out = `${run.stdout || ''}${run.stderr || ''}`;
  for (const line of out.split('\n')) {
    const m = /rendered_objects\.ts\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
    if (!m) continue;
    const ln = Number(m[1]);
    const r = ranges.find((x) => ln >= x.from && ln <= x.to);
    const src = (lines[ln - 1] || '').trim().slice(0, 80);
    strictProblems.push(`${r ? r.where : 'rendered_objects.ts'}: ${m[4]} (at ${src})`);
  }
  if (run.status !== 0 && strictProblems.length === 0) {
    strictProblems.push(`tsc failed: ${out.trim().slice(0, 400) || run.error}`);
  }
  report('schema-strict', strictProblems,
      `${count} objects have no unknown or mistyped fields (strict type check)`);
  return results;
}

// ---------------------------------------------------------------------------------------------
// assert

// The internal services, their ports and who may call them.
const INTERNAL = {
  'donor-service': {port: 50051, clients: ['gateway']},
  'inventory-service': {port: 50052, clients: ['gateway', 'request-service', 'donor-service']},
  'request-service': {port: 50053, clients: ['gateway']},
};
const GATEWAY = {name: 'gateway', port: 50050};
const AUTOSCALED = ['gateway', 'request-service'];
const SECRETISH = /(password|passwd|secret|token|credential|private[_-]?key)/i;

function effective(container, pod, key) {
  const c = container.securityContext || {};
  const p = pod.securityContext || {};
  return c[key] !== undefined ? c[key] : p[key];
}

// assert [--label L] --target T FILE [[--label L2] --target T2 FILE2 ...]: one process for many
// renders; a label prefixes the check ids of the files after it.
function cmdAssert(args) {
  let target = null;
  let label = '';
  const results = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--target') target = args[++i];
    else if (args[i] === '--label') label = `[${args[++i]}] `;
    else {
      if (!target) usage();
      for (const r of assertChecks(target, loadDocs(args[i]))) results.push({...r, id: label + r.id});
    }
  }
  if (results.length === 0) usage();
  return results;
}

function assertChecks(target, objs) {
  const results = [];
  const report = (id, problems, okText) => results.push({id, problems, okText});
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const find = (k, n) => objs.find((o) => o.kind === k && o.metadata && o.metadata.name === n);
  const workloads = objs.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const longRunning = workloads.filter((o) => LONG_RUNNING_KINDS.has(o.kind));
  const deployments = byKind('Deployment').filter(isBloodGridDeployment);
  const t = `[${target}]`;

  // probes: readiness + liveness on every long-running container.
  {
    const problems = [];
    for (const w of longRunning) {
      for (const c of podSpecOf(w).containers || []) {
        if (!c.readinessProbe) problems.push(`${ref(w)} container ${c.name}: no readinessProbe`);
        if (!c.livenessProbe) problems.push(`${ref(w)} container ${c.name}: no livenessProbe`);
      }
    }
    report(`probes${t}`, problems,
        `every container of ${longRunning.length} Deployments/StatefulSets has readiness and liveness probes`);
  }

  // grpc-probes: BloodGrid processes probe grpc.health.v1 on their numeric serving port.
  {
    const problems = [];
    if (deployments.length !== 4) {
      problems.push(`expected the 4 BloodGrid Deployments, found ${deployments.map(ref).join(', ') || 'none'}`);
    }
    for (const d of deployments) {
      for (const c of podSpecOf(d).containers || []) {
        const ports = (c.ports || []).map((p) => p.containerPort);
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const p = c[kind];
          if (!p || !p.grpc) {
            problems.push(`${ref(d)} container ${c.name}: ${kind} is not a grpc probe`);
          } else if (!Number.isInteger(p.grpc.port) || !ports.includes(p.grpc.port)) {
            problems.push(`${ref(d)} container ${c.name}: ${kind} grpc.port ${JSON.stringify(p.grpc.port)} is not one of its numeric containerPorts ${JSON.stringify(ports)}`);
          }
        }
      }
    }
    report(`grpc-probes${t}`, problems,
        'BloodGrid Deployments have grpc.health.v1 startup/readiness/liveness probes on numeric ports');
  }

  // resources: requests and limits for cpu and memory on every container of every workload.
  {
    const problems = [];
    let n = 0;
    for (const w of workloads) {
      for (const c of containersOf(podSpecOf(w))) {
        n++;
        const r = c.resources || {};
        for (const section of ['requests', 'limits']) {
          for (const res of ['cpu', 'memory']) {
            if (!r[section] || r[section][res] === undefined || r[section][res] === null || r[section][res] === '') {
              problems.push(`${ref(w)} container ${c.name}: no resources.${section}.${res}`);
            }
          }
        }
      }
    }
    report(`resources${t}`, problems, `${n} containers have cpu and memory requests and limits`);
  }

  // security: non-root, read-only root, no privilege escalation, no capabilities, seccomp.
  {
    const problems = [];
    let n = 0;
    for (const w of workloads) {
      const pod = podSpecOf(w);
      for (const c of containersOf(pod)) {
        n++;
        const where = `${ref(w)} container ${c.name}`;
        const sc = c.securityContext || {};
        if (effective(c, pod, 'runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot is not true`);
        const uid = effective(c, pod, 'runAsUser');
        if (!Number.isInteger(uid) || uid <= 0) problems.push(`${where}: runAsUser is not a numeric non-root uid`);
        if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
        if (sc.privileged === true) problems.push(`${where}: privileged`);
        const drop = ((sc.capabilities || {}).drop || []);
        if (!drop.includes('ALL')) problems.push(`${where}: capabilities.drop does not include ALL`);
        if (((sc.capabilities || {}).add || []).length) problems.push(`${where}: adds capabilities`);
        const seccomp = effective(c, pod, 'seccompProfile');
        if (!seccomp || seccomp.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile is not RuntimeDefault`);
      }
      if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${ref(w)}: uses host namespaces`);
    }
    report(`security${t}`, problems,
        `${n} containers run as non-root with a read-only root, no privilege escalation, capabilities dropped, RuntimeDefault seccomp`);
  }

  // service-accounts: one per Deployment, no token mounted.
  {
    const problems = [];
    const seen = new Map();
    for (const w of workloads) {
      const pod = podSpecOf(w);
      const sa = pod.serviceAccountName;
      if (!sa || sa === 'default') {
        problems.push(`${ref(w)}: runs as the default ServiceAccount`);
        continue;
      }
      const saObj = find('ServiceAccount', sa);
      if (!saObj) problems.push(`${ref(w)}: ServiceAccount ${sa} is not in the manifests`);
      else if (saObj.automountServiceAccountToken !== false) problems.push(`ServiceAccount/${sa}: automountServiceAccountToken is not false`);
      if (pod.automountServiceAccountToken !== false) problems.push(`${ref(w)}: pod automountServiceAccountToken is not false`);
      if (w.kind === 'Deployment') {
        if (seen.has(sa)) problems.push(`${ref(w)} shares ServiceAccount ${sa} with ${seen.get(sa)}`);
        seen.set(sa, ref(w));
      }
    }
    report(`service-accounts${t}`, problems, 'each Deployment has its own ServiceAccount and no API token mounted');
  }

  // graceful-drain: the grace period outlasts the server's drain.
  {
    const problems = [];
    const cfg = objs.find((o) => o.kind === 'ConfigMap' && /^bloodgrid-config(-[a-z0-9]+)?$/.test(o.metadata.name));
    const drain = Number(((cfg || {}).data || {}).DRAIN_SECONDS || 20);
    for (const d of deployments) {
      const grace = podSpecOf(d).terminationGracePeriodSeconds;
      if (!Number.isInteger(grace) || grace <= drain) {
        problems.push(`${ref(d)}: terminationGracePeriodSeconds ${grace} does not exceed --drain_seconds ${drain}`);
      }
    }
    report(`graceful-drain${t}`, problems, `terminationGracePeriodSeconds exceeds the ${drain} s drain`);
  }

  // autoscaling: HPA + PDB for the gateway and the request service.
  {
    const problems = [];
    for (const name of AUTOSCALED) {
      const d = find('Deployment', name);
      if (!d) {
        problems.push(`Deployment/${name} missing`);
        continue;
      }
      const hpa = byKind('HorizontalPodAutoscaler').find((h) => {
        const r = (h.spec || {}).scaleTargetRef || {};
        return r.kind === 'Deployment' && r.name === name;
      });
      if (!hpa) problems.push(`no HorizontalPodAutoscaler targets Deployment/${name}`);
      else if (!(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas)) {
        problems.push(`${ref(hpa)}: bad replica bounds`);
      }
      const pdb = byKind('PodDisruptionBudget').find((p) => selects((p.spec || {}).selector, podLabelsOf(d)));
      if (!pdb) problems.push(`no PodDisruptionBudget selects the pods of Deployment/${name}`);
    }
    report(`autoscaling${t}`, problems, `${AUTOSCALED.join(' and ')} have a HorizontalPodAutoscaler and a PodDisruptionBudget`);
  }

  // services: a Service per Deployment with a port named grpc; internal ones headless.
  {
    const problems = [];
    for (const d of deployments) {
      const labels = podLabelsOf(d);
      const svcs = byKind('Service').filter((s) => Object.keys((s.spec || {}).selector || {}).length &&
          Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v));
      const name = appName(d);
      if (svcs.length === 0) {
        problems.push(`no Service selects ${ref(d)}`);
        continue;
      }
      for (const s of svcs) {
        const grpc = (s.spec.ports || []).find((p) => p.name === 'grpc');
        const cports = (podSpecOf(d).containers || []).flatMap((c) => (c.ports || []).map((p) => p.containerPort));
        if (!grpc) problems.push(`${ref(s)}: no port named grpc`);
        else if (!cports.includes(grpc.targetPort === undefined ? grpc.port : grpc.targetPort)) {
          problems.push(`${ref(s)}: port grpc targets ${grpc.targetPort}, not a containerPort of ${ref(d)}`);
        }
        if (INTERNAL[name] && s.spec.clusterIP !== 'None') {
          problems.push(`${ref(s)}: internal service is not headless (clusterIP: None)`);
        }
        if (INTERNAL[name] && grpc && grpc.port !== INTERNAL[name].port) {
          problems.push(`${ref(s)}: port ${grpc.port}, expected ${INTERNAL[name].port}`);
        }
      }
    }
    report(`services${t}`, problems, 'each Deployment has a Service with a port named grpc; internal Services are headless');
  }

  // secret-refs: no secret values outside dev; credentials only by Secret reference.
  {
    const problems = [];
    if (target !== 'dev') {
      for (const s of byKind('Secret')) problems.push(`${ref(s)}: Secret object in the ${target} manifests (secrets are created by the operator)`);
    }
    for (const cm of byKind('ConfigMap')) {
      for (const k of Object.keys(cm.data || {})) {
        if (SECRETISH.test(k)) problems.push(`${ref(cm)}: key ${k} looks like a secret`);
      }
    }
    for (const w of workloads) {
      for (const c of containersOf(podSpecOf(w))) {
        for (const e of c.env || []) {
          if (SECRETISH.test(e.name) && e.value !== undefined) {
            problems.push(`${ref(w)} container ${c.name}: env ${e.name} has a literal value`);
          }
        }
        for (const a of [...(c.command || []), ...(c.args || [])]) {
          if (/password(?!_file)[^=]*=/i.test(a) || /token(?!s_file)[^=]*=/i.test(a)) {
            problems.push(`${ref(w)} container ${c.name}: secret on the command line: ${a}`);
          }
        }
      }
    }
    report(`secret-refs${t}`, problems,
        target === 'dev' ? 'credentials reach containers only by Secret reference'
            : 'no Secret values; credentials reach containers only by Secret reference');
  }

  // images: pinned, never latest.
  {
    const problems = [];
    for (const w of workloads) {
      for (const c of containersOf(podSpecOf(w))) {
        const img = c.image || '';
        const tag = img.includes('@') ? 'digest' : (img.split('/').pop().split(':')[1] || '');
        if (!tag || tag === 'latest') problems.push(`${ref(w)} container ${c.name}: image ${img || '(none)'} has no pinned tag`);
      }
    }
    report(`images${t}`, problems, 'every image has a pinned tag');
  }

  // network-policies (prod): only the gateway (and request, donor -> inventory) reach internal
  // services; each service reaches only its database and DNS.
  if (target === 'prod') {
    const problems = [];
    const nps = byKind('NetworkPolicy');
    const deny = nps.find((n) => isEmptySelector(n.spec.podSelector) &&
        (n.spec.policyTypes || []).includes('Ingress') && (n.spec.policyTypes || []).includes('Egress') &&
        !(n.spec.ingress || []).length && !(n.spec.egress || []).length);
    if (!deny) problems.push('no default-deny NetworkPolicy (podSelector {}, Ingress+Egress, no rules)');
    const portsOf = (rule) => (rule.ports || []).map((p) => p.port);
    for (const d of deployments) {
      const name = appName(d);
      const labels = podLabelsOf(d);
      const mine = nps.filter((n) => selects(n.spec.podSelector, labels) || isEmptySelector(n.spec.podSelector));
      const ingress = mine.filter((n) => (n.spec.policyTypes || []).includes('Ingress')).flatMap((n) => n.spec.ingress || []);
      const egress = mine.filter((n) => (n.spec.policyTypes || []).includes('Egress')).flatMap((n) => n.spec.egress || []);
      // Ingress.
      if (name === GATEWAY.name) {
        if (!ingress.some((r) => !(r.from || []).length && portsOf(r).includes(GATEWAY.port))) {
          problems.push(`gateway: ingress on ${GATEWAY.port} is not open`);
        }
        for (const r of ingress) {
          if (portsOf(r).length === 0 || portsOf(r).some((p) => p !== GATEWAY.port)) {
            problems.push(`gateway: ingress allows ports other than ${GATEWAY.port}`);
          }
        }
      } else if (INTERNAL[name]) {
        const {port, clients} = INTERNAL[name];
        if (ingress.length === 0) problems.push(`${name}: no ingress allowed at all (its clients cannot reach it)`);
        for (const r of ingress) {
          const from = r.from || [];
          if (from.length === 0) problems.push(`${name}: ingress from anywhere`);
          for (const peer of from) {
            const client = peer.podSelector && (peer.podSelector.matchLabels || {})['app.kubernetes.io/name'];
            if (peer.ipBlock || peer.namespaceSelector || !clients.includes(client)) {
              problems.push(`${name}: ingress from ${JSON.stringify(peer)} (only ${clients.join(', ')} may call it)`);
            }
          }
          if (portsOf(r).length === 0 || portsOf(r).some((p) => p !== port)) {
            problems.push(`${name}: ingress allows ports other than ${port}`);
          }
        }
      }
      // Egress.
      const allowedPods = name === GATEWAY.name ? Object.keys(INTERNAL) :
          name === 'request-service' || name === 'donor-service' ? ['inventory-service'] : [];
      let hasDns = false;
      let hasDb = false;
      for (const r of egress) {
        const to = r.to || [];
        const ports = portsOf(r);
        if (to.length === 0) {
          problems.push(`${name}: egress to anywhere${ports.length ? ` on ${ports.join(',')}` : ''}`);
          continue;
        }
        for (const peer of to) {
          if (peer.ipBlock) {
            if (!INTERNAL[name]) problems.push(`${name}: egress to an ipBlock`);
            else if (ports.length === 0 || ports.some((p) => p !== 3306)) problems.push(`${name}: egress to ${peer.ipBlock.cidr} on ports other than 3306`);
            else if (/^0\.0\.0\.0\/0$|^::\/0$/.test(peer.ipBlock.cidr)) problems.push(`${name}: database egress to the whole internet`);
            else hasDb = true;
          } else if (peer.namespaceSelector) {
            const ns = (peer.namespaceSelector.matchLabels || {})['kubernetes.io/metadata.name'];
            if (ns === 'kube-system' && ports.length && ports.every((p) => p === 53)) hasDns = true;
            else problems.push(`${name}: egress to namespace selector ${JSON.stringify(peer.namespaceSelector)} on ${ports.join(',') || 'all ports'}`);
          } else if (peer.podSelector) {
            const callee = (peer.podSelector.matchLabels || {})['app.kubernetes.io/name'];
            if (!allowedPods.includes(callee)) problems.push(`${name}: egress to pods ${JSON.stringify(peer.podSelector)}`);
            else if (ports.length === 0 || ports.some((p) => p !== INTERNAL[callee].port)) problems.push(`${name}: egress to ${callee} on ports other than ${INTERNAL[callee].port}`);
          }
        }
      }
      if (!hasDns) problems.push(`${name}: no DNS egress`);
      if (INTERNAL[name] && !hasDb) problems.push(`${name}: no egress to its database on 3306`);
    }
    report(`network-policies${t}`, problems,
        'default deny; only the gateway (and request, donor -> inventory) reach internal services; each service reaches only its database and DNS');
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// secrets (committed tree)

function listYaml(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listYaml(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

function cmdSecrets(args) {
  if (!args[0]) usage();
  return secretChecks(args[0]);
}

function secretChecks(k8sDir) {
  const devDir = path.join(k8sDir, 'overlays', 'dev') + path.sep;
  const problems = [];
  let n = 0;
  for (const f of listYaml(k8sDir)) {
    if (f.startsWith(devDir)) continue;
    n++;
    const rel = path.relative(k8sDir, f);
    let docs;
    try {
      docs = loadDocs(f);
    } catch (e) {
      problems.push(`${rel}: ${e.message}`);
      continue;
    }
    for (const d of docs) {
      if (typeof d !== 'object') continue;
      if (d.kind === 'Secret' && (Object.keys(d.data || {}).length || Object.keys(d.stringData || {}).length)) {
        problems.push(`${rel}: Secret ${(d.metadata || {}).name} holds values`);
      }
      for (const g of d.secretGenerator || []) {
        if ((g.literals || []).length || (g.files || []).length || (g.envs || []).length || g.env) {
          problems.push(`${rel}: secretGenerator ${g.name} holds values`);
        }
      }
    }
  }
  return [{id: 'secrets-in-tree', problems, okText: `no Secret values in ${n} YAML files under k8s/ outside overlays/dev`}];
}

// ---------------------------------------------------------------------------------------------
// flags

// Abseil's own flags, accepted by every binary.
const ABSL_BUILTIN_FLAGS = new Set(['help', 'helpfull', 'helpshort', 'helppackage', 'version',
  'flagfile', 'fromenv', 'tryfromenv', 'undefok', 'only_check_args']);

function definedFlags(dir) {
  const names = new Set();
  if (!fs.existsSync(dir)) return names;
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    if (!e.isFile() || !/\.(cc|cpp|h)$/.test(e.name)) continue;
    const text = fs.readFileSync(path.join(dir, e.name), 'utf8');
    for (const m of text.matchAll(/ABSL_FLAG\s*\(\s*[^,]+,\s*([A-Za-z_][A-Za-z0-9_]*)\s*,/g)) names.add(m[1]);
  }
  return names;
}

function cmdFlags(args) {
  let src = null;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--src') src = args[++i];
    else files.push(args[i]);
  }
  if (!src || files.length === 0) usage();
  return flagChecks(src, files.flatMap((f) => loadDocs(f)));
}

function flagChecks(src, objs) {
  const problems = [];
  const common = definedFlags(path.join(src, 'common'));
  const checked = new Set();
  const pending = new Set();
  for (const d of objs.filter(isBloodGridDeployment)) {
    for (const c of podSpecOf(d).containers || []) {
      const binary = path.basename((c.command || [])[0] || '');
      if (!/^[a-z_]+$/.test(binary)) {
        problems.push(`${ref(d)} container ${c.name}: command ${JSON.stringify(c.command)} names no BloodGrid binary`);
        continue;
      }
      if (!fs.existsSync(path.join(src, binary, 'main.cc'))) {
        pending.add(binary);
        continue;
      }
      checked.add(binary);
      const known = new Set([...common, ...definedFlags(path.join(src, binary))]);
      for (const a of c.args || []) {
        const m = /^--(?:no)?([A-Za-z0-9_]+)(=|$)/.exec(a);
        if (!m) continue;
        if (!known.has(m[1]) && !ABSL_BUILTIN_FLAGS.has(m[1])) {
          problems.push(`${ref(d)}: ${binary} defines no flag --${m[1]} (it would refuse to start)`);
        }
      }
    }
  }
  const pendingText = [...pending].sort().join(', ');
  const okText = checked.size === 0 ? `nothing to check yet: no main.cc for ${pendingText}` :
      `every flag passed to ${[...checked].sort().join(', ')} is defined` +
      (pending.size ? `; not checked yet (no main.cc): ${pendingText}` : '');
  return [{id: 'flags', problems, okText}];
}

// ---------------------------------------------------------------------------------------------
// dockerfile

function cmdDockerfile(args) {
  if (!args[0]) usage();
  return dockerfileChecks(fs.readFileSync(args[0], 'utf8'));
}

function dockerfileChecks(text) {
  const problems = [];
  // Logical lines: continuation backslashes joined, comments dropped.
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const fromIdx = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0);
  if (fromIdx.length < 2) problems.push('not a multi-stage build (build stage + runtime stage)');
  const last = lines.slice(fromIdx.length ? fromIdx[fromIdx.length - 1] : 0);
  const users = last.filter((l) => /^USER\s/i.test(l));
  const user = users.length ? users[users.length - 1].split(/\s+/)[1] : null;
  if (!user) problems.push('the runtime stage sets no USER (it would run as root)');
  else if (!/^[1-9][0-9]*(:[1-9][0-9]*)?$/.test(user)) problems.push(`runtime USER ${user} is not a numeric non-root uid[:gid] (runAsNonRoot needs a number)`);
  for (const l of last.filter((x) => /^RUN\s/i.test(x) && /apt-get\s+install/.test(x))) {
    const bad = l.split(/\s+/).filter((w) => /-dev$|^(g\+\+|gcc|cmake|ninja-build|protobuf-compiler.*|make)$/.test(w));
    if (bad.length) problems.push(`runtime stage installs build tools: ${bad.join(' ')}`);
  }
  if (last.some((l) => /^COPY\s/i.test(l) && !/--from=/.test(l))) problems.push('runtime stage copies from the build context instead of the build stage');
  return [{id: 'dockerfile', problems, okText: `multi-stage; runtime stage runs as ${user} with runtime libraries only`}];
}

// ---------------------------------------------------------------------------------------------
// selftest

function cmdSelftest(args) {
  const opt = {};
  for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
  if (!opt.work || !opt.render || !opt['k8s-dir'] || !opt.tsdir) usage();
  fs.rmSync(opt.work, {recursive: true, force: true});
  fs.mkdirSync(opt.work, {recursive: true});
  const good = loadDocs(opt.render);
  const problems = [];
  let n = 0;

  const clone = () => JSON.parse(JSON.stringify(good));
  const get = (docs, kind, name) => {
    const o = docs.find((d) => d.kind === kind && d.metadata.name === name);
    if (!o) throw new Error(`selftest: ${kind}/${name} not in ${opt.render}`);
    return o;
  };
  const ctr = (docs, name) => podSpecOf(get(docs, 'Deployment', name)).containers[0];

  // A mutant is caught when the expected check fails and names the mutant in its details.
  function expectCaught(label, results, expectId, mark) {
    n++;
    const hit = results.find((r) => r.id === expectId && r.problems.length &&
        (!mark || r.problems.some((p) => p.includes(mark))));
    if (!hit) {
      const got = results.filter((r) => r.problems.length).map((r) => `${r.id}: ${r.problems.join('; ')}`);
      problems.push(`${label}: not caught by ${expectId} (failed: ${got.join(' | ') || 'nothing'})`);
      return;
    }
    const detail = hit.problems.find((p) => !mark || p.includes(mark));
    console.log(`  caught  ${label.padEnd(44)} -> FAIL ${expectId}: ${detail.slice(0, 100)}`);
  }

  // The unbroken render must pass, or the mutants prove nothing.
  for (const r of assertChecks('prod', clone())) {
    if (r.problems.length) problems.push(`the good prod render fails ${r.id}: ${r.problems.join('; ')}`);
  }

  const mutants = [
    ['readinessProbe removed (gateway)', 'probes', (d) => { delete ctr(d, 'gateway').readinessProbe; }],
    ['livenessProbe removed (donor-service)', 'probes', (d) => { delete ctr(d, 'donor-service').livenessProbe; }],
    ['readiness probe not grpc (inventory)', 'grpc-probes', (d) => { ctr(d, 'inventory-service').readinessProbe = {tcpSocket: {port: 50052}}; }],
    ['startupProbe removed (request-service)', 'grpc-probes', (d) => { delete ctr(d, 'request-service').startupProbe; }],
    ['memory limit removed (donor-service)', 'resources', (d) => { delete ctr(d, 'donor-service').resources.limits.memory; }],
    ['cpu request removed (request-service)', 'resources', (d) => { delete ctr(d, 'request-service').resources.requests.cpu; }],
    ['limits removed (gateway)', 'resources', (d) => { delete ctr(d, 'gateway').resources.limits; }],
    ['readOnlyRootFilesystem false (gateway)', 'security', (d) => { ctr(d, 'gateway').securityContext.readOnlyRootFilesystem = false; }],
    ['capabilities drop ALL removed (inventory)', 'security', (d) => { delete ctr(d, 'inventory-service').securityContext.capabilities; }],
    ['runAsNonRoot removed (donor-service)', 'security', (d) => {
      delete ctr(d, 'donor-service').securityContext.runAsNonRoot;
      delete podSpecOf(get(d, 'Deployment', 'donor-service')).securityContext.runAsNonRoot;
    }],
    ['allowPrivilegeEscalation true (request)', 'security', (d) => { ctr(d, 'request-service').securityContext.allowPrivilegeEscalation = true; }],
    ['seccompProfile removed (gateway)', 'security', (d) => { delete podSpecOf(get(d, 'Deployment', 'gateway')).securityContext.seccompProfile; }],
    ['HPA removed (request-service)', 'autoscaling', (d) => d.filter((o) => !(o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'request-service'))],
    ['PDB removed (gateway)', 'autoscaling', (d) => d.filter((o) => !(o.kind === 'PodDisruptionBudget' && o.metadata.name === 'gateway'))],
    ['Service not headless (inventory)', 'services', (d) => { delete get(d, 'Service', 'inventory-service').spec.clusterIP; }],
    ['Service port renamed (donor)', 'services', (d) => { get(d, 'Service', 'donor-service').spec.ports[0].name = 'http'; }],
    ['grace period below drain (gateway)', 'graceful-drain', (d) => { podSpecOf(get(d, 'Deployment', 'gateway')).terminationGracePeriodSeconds = 10; }],
    ['shared ServiceAccount', 'service-accounts', (d) => { podSpecOf(get(d, 'Deployment', 'donor-service')).serviceAccountName = 'gateway'; }],
    ['Secret with data in prod', 'secret-refs', (d) => [...d, {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'leak', namespace: 'bloodgrid'}, stringData: {password: 'x'}}]],
    ['password as literal env (donor)', 'secret-refs', (d) => { ctr(d, 'donor-service').env.push({name: 'BLOODGRID_DB_PASSWORD', value: 'x'}); }],
    ['image :latest (gateway)', 'images', (d) => { ctr(d, 'gateway').image = 'bloodgrid:latest'; }],
    ['ingress from anywhere (donor)', 'network-policies', (d) => { get(d, 'NetworkPolicy', 'donor-service').spec.ingress.push({ports: [{protocol: 'TCP', port: 50051}]}); }],
    ['default-deny removed', 'network-policies', (d) => d.filter((o) => !(o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny'))],
    ['donor egress to request', 'network-policies', (d) => {
      get(d, 'NetworkPolicy', 'donor-service').spec.egress.push({to: [{podSelector: {matchLabels: {'app.kubernetes.io/name': 'request-service'}}}], ports: [{protocol: 'TCP', port: 50053}]});
    }],
  ];
  let firstMutantFile = null;
  mutants.forEach(([label, id, mutate], i) => {
    let docs = clone();
    const r = mutate(docs);
    if (Array.isArray(r)) docs = r;
    const f = path.join(opt.work, `mutant-${String(i).padStart(2, '0')}.yaml`);
    writeDocs(f, docs);  // kept for inspection; checked from the file, as the real run is
    if (!firstMutantFile) firstMutantFile = f;
    expectCaught(label, assertChecks('prod', loadDocs(f)), `${id}[prod]`);
  });

  // Schema validators: a mistyped value, a missing required field, misspelt fields; all in one
  // run (one tsc), each mutant under its own label.
  const schemaMutants = [
    ['grpc probe port as a name (gateway)', 'schema', (d) => { ctr(d, 'gateway').livenessProbe.grpc.port = 'grpc'; }],
    ['container without a name (donor)', 'schema', (d) => { delete ctr(d, 'donor-service').name; }],
    ['misspelt field readinesProbe (inventory)', 'schema-strict', (d) => {
      const c = ctr(d, 'inventory-service');
      c.readinesProbe = c.readinessProbe;
    }],
    ['misspelt field in a NetworkPolicy', 'schema-strict', (d) => { get(d, 'NetworkPolicy', 'gateway').spec.ingres = []; }],
  ];
  const schemaInputs = schemaMutants.map(([, , mutate], i) => {
    const docs = clone();
    mutate(docs);
    const f = path.join(opt.work, `schema-mutant-${i}.yaml`);
    writeDocs(f, docs);
    return `mutant${i}=${f}`;
  });
  const schemaResults = schemaChecks(schemaInputs, `${opt.tsdir}-selftest`);
  schemaMutants.forEach(([label, id], i) => expectCaught(label, schemaResults, id, `mutant${i}: `));

  // Secret scan: a leaked Secret and a secretGenerator with literals outside overlays/dev.
  const treeMutants = [
    ['Secret with stringData in overlays/prod', (dir) => {
      fs.writeFileSync(path.join(dir, 'overlays', 'prod', 'leak.yaml'),
          'apiVersion: v1\nkind: Secret\nmetadata:\n  name: leak\nstringData:\n  password: hunter2\n');
    }],
    ['secretGenerator literals in base', (dir) => {
      fs.appendFileSync(path.join(dir, 'base', 'kustomization.yaml'),
          '\nsecretGenerator:\n- name: leak\n  literals:\n  - password=hunter2\n');
    }],
  ];
  let firstTree = null;
  treeMutants.forEach(([label, mutate], i) => {
    const dir = path.join(opt.work, `tree-${i}`);
    fs.cpSync(opt['k8s-dir'], dir, {recursive: true});
    mutate(dir);
    if (!firstTree) firstTree = dir;
    expectCaught(label, secretChecks(dir), 'secrets-in-tree');
  });

  // Flags: a Deployment passing a flag its binary does not define (against a small source tree).
  {
    const src = path.join(opt.work, 'src');
    fs.mkdirSync(path.join(src, 'common'), {recursive: true});
    fs.mkdirSync(path.join(src, 'donor_service'), {recursive: true});
    const flags = new Set();
    for (const c of podSpecOf(get(good, 'Deployment', 'donor-service')).containers[0].args) {
      const m = /^--([A-Za-z0-9_]+)/.exec(c);
      if (m) flags.add(m[1]);
    }
    fs.writeFileSync(path.join(src, 'common', 'flags.cc'),
        [...flags].map((f) => `ABSL_FLAG(std::string, ${f}, "", "");`).join('\n') + '\n');
    fs.writeFileSync(path.join(src, 'donor_service', 'main.cc'), 'int main() { return 0; }\n');
    if (flagChecks(src, good)[0].problems.length) problems.push('the good render fails the flags check');
    const docs = clone();
    ctr(docs, 'donor-service').args.push('--migrations_dir=/usr/share/bloodgrid/migrations/donor_service');
    expectCaught('undefined flag --migrations_dir (donor)', flagChecks(src, docs), 'flags');
  }

  // Dockerfile: root user, a named user, build tools in the runtime stage.
  if (opt.dockerfile) {
    const df = fs.readFileSync(opt.dockerfile, 'utf8');
    if (dockerfileChecks(df)[0].problems.length) problems.push('the good Dockerfile fails the dockerfile check');
    const dfMutants = [
      ['Dockerfile without USER', df.replace(/^USER .*$/m, '')],
      ['Dockerfile USER by name', df.replace(/^USER .*$/m, 'USER bloodgrid')],
      ['Dockerfile USER 0', df.replace(/^USER .*$/m, 'USER 0')],
      ['Dockerfile runtime with -dev packages', df.replace(/libmysqlcppconn7v5/g, 'libmysqlcppconn-dev')],
    ];
    for (const [label, text] of dfMutants) expectCaught(label, dockerfileChecks(text), 'dockerfile');
  }

  // And the command line turns a failed check into a non-zero exit status.
  for (const argv of [['assert', '--target', 'prod', firstMutantFile], ['secrets', firstTree]]) {
    n++;
    const r = childProcess.spawnSync(process.execPath, [__filename, ...argv], {encoding: 'utf8'});
    if (r.status === 0 || !/^FAIL /m.test(r.stdout || '')) {
      problems.push(`"manifest_checks.cjs ${argv[0]}" on a broken input exited ${r.status}`);
    } else {
      console.log(`  caught  ${`exit status of "${argv[0]}" on a broken input`.padEnd(44)} -> ${r.status}`);
    }
  }

  return [{id: 'selftest', problems, okText: `all ${n} deliberately broken manifests were caught`}];
}

// ---------------------------------------------------------------------------------------------

function usage() {
  console.error('usage: manifest_checks.cjs schema|assert|secrets|flags|dockerfile|selftest ... (see the header)');
  process.exit(2);
}

function main() {
  const [cmd, ...args] = process.argv.slice(2);
  const commands = {
    schema: cmdSchema, assert: cmdAssert, secrets: cmdSecrets, flags: cmdFlags, dockerfile: cmdDockerfile,
    selftest: cmdSelftest,
  };
  if (!commands[cmd]) usage();
  let failed;
  try {
    failed = printResults(commands[cmd](args));
  } catch (e) {
    console.log(`FAIL ${cmd}: ${e.message}`);
    process.exit(1);
  }
  process.exit(failed ? 1 : 0);
}

main();
