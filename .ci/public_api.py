#!/usr/bin/env python3
"""Print netplumb's public API, one item per line, sorted, from rustdoc's
JSON output (target/doc/netplumb.json, made by
`RUSTC_BOOTSTRAP=1 cargo rustdoc --lib --all-features -- -Z unstable-options
--output-format json`): every public item by path and kind, struct fields and
enum variants, and every inherent and trait-impl method with its signature.
.ci/public-api compares it with the committed public-api.txt, so that every
API change is deliberate (regenerate the file with --bless)."""
import json
import sys

d = json.load(open(sys.argv[1]))
idx, paths = d["index"], d["paths"]


def name_of(id_):
    p = paths.get(str(id_))
    return "::".join(p["path"]) if p else None


def ty(t):
    if t is None:
        return "()"
    (k, v), = t.items()
    if k == "resolved_path":
        s = name_of(v["id"]) or v["path"]
        if s.startswith("netplumb::") is False and "::" in s:
            s = v["path"]
        return s + args(v.get("args"))
    if k == "primitive":
        return v
    if k == "generic":
        return v
    if k == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if k == "raw_pointer":
        return ("*mut " if v["is_mutable"] else "*const ") + ty(v["type"])
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return "[" + ty(v["type"]) + "; " + str(v["len"]) + "]"
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if k == "dyn_trait":
        return "dyn " + " + ".join(p["trait"]["path"] + args(p["trait"].get("args")) for p in v["traits"])
    if k == "qualified_path":
        return "<" + ty(v["self_type"]) + ">::" + v["name"]
    if k == "function_pointer":
        sig = v["sig"]
        return "fn(" + ", ".join(ty(x[1]) for x in sig["inputs"]) + ") -> " + ty(sig["output"])
    return k


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        parts = []
        for x in a["angle_bracketed"]["args"]:
            if "type" in x:
                parts.append(ty(x["type"]))
            elif "lifetime" in x:
                parts.append(x["lifetime"])
            elif "const" in x:
                parts.append(str(x["const"].get("expr", "")))
        for c in a["angle_bracketed"].get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b and "type" in b["equality"]:
                parts.append(c["name"] + " = " + ty(b["equality"]["type"]))
            else:
                parts.append(c["name"])
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        return "(" + ", ".join(ty(x) for x in p["inputs"]) + ") -> " + ty(p.get("output"))
    return ""


def bound(b):
    if "trait_bound" in b:
        t = b["trait_bound"]["trait"]
        return t["path"] + args(t.get("args"))
    if "outlives" in b:
        return b["outlives"]
    return "?"


def generics(g):
    ps = []
    for p in g["params"]:
        k = p["kind"]
        if "type" in k:
            if k["type"].get("is_synthetic"):
                continue  # `impl Trait` in argument position, shown there
            bs = k["type"].get("bounds", [])
            ps.append(p["name"] + (": " + " + ".join(bound(b) for b in bs) if bs else ""))
        elif "const" in k:
            ps.append("const " + p["name"] + ": " + ty(k["const"]["type"]))
        elif "lifetime" in k:
            ps.append(p["name"])
    return "<" + ", ".join(ps) + ">" if ps else ""


def fn_sig(name, f):
    h = f["header"]
    pre = ("const " if h["is_const"] else "") + ("async " if h["is_async"] else "") + ("unsafe " if h["is_unsafe"] else "")
    ins = ", ".join((n + ": " if n != "self" else "") + ty(t) if n != "self" else ty(t) for n, t in f["sig"]["inputs"])
    out = f["sig"]["output"]
    return pre + "fn " + name + generics(f["generics"]) + "(" + ins + ")" + (" -> " + ty(out) if out else "")


lines = set()
for id_, p in paths.items():
    if p["crate_id"] != 0:
        continue
    it = idx.get(id_)
    if it is None or it.get("visibility") != "public":
        continue
    path = "::".join(p["path"])
    kind = p["kind"]
    inner = it["inner"]
    if kind == "function":
        lines.add("pub " + fn_sig(path, inner["function"]))
        continue
    attrs = " #[non_exhaustive]" if any("non_exhaustive" in str(a) for a in it.get("attrs", [])) else ""
    lines.add("pub " + kind + " " + path + attrs)
    body = inner.get(kind) or {}
    if kind == "struct":
        k = body.get("kind", {})
        fields = (k.get("plain") or {}).get("fields", []) if isinstance(k, dict) else []
        if isinstance(k, dict) and "tuple" in k:
            fields = [f for f in k["tuple"] if f is not None]
        for f in fields:
            fi = idx.get(str(f))
            if fi and fi.get("visibility") == "public":
                lines.add("pub field " + path + "::" + (fi["name"] or "") + ": " + ty(fi["inner"]["struct_field"]))
    if kind == "constant":
        lines.add("pub const " + path + ": " + ty(inner["constant"]["type"]))
    impls = body.get("impls", []) if isinstance(body, dict) else []
    for im_id in impls:
        im = idx.get(str(im_id))
        if not im:
            continue
        imp = im["inner"]["impl"]
        if imp.get("is_synthetic") or imp.get("blanket_impl"):
            continue
        tr = imp.get("trait")
        if tr:
            lines.add("impl " + tr["path"] + args(tr.get("args")) + " for " + path)
            continue
        for m in imp["items"]:
            mi = idx.get(str(m))
            if mi and mi.get("visibility") == "public" and "function" in mi["inner"]:
                lines.add("pub " + fn_sig(path + "::" + mi["name"], mi["inner"]["function"]))
for l in sorted(lines):
    print(l)
