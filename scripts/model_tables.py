#!/usr/bin/env python3
"""Print the parameter table and the organism overrides of a ketasim YAML model as Markdown.

docs/MODEL.md's "Parameters" section is this script's output for models/ketamine_stress.yaml:
    python3 scripts/model_tables.py models/ketamine_stress.yaml
Needs PyYAML.
"""
import sys
import yaml


def fmt(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def main(path):
    with open(path, encoding="utf-8") as f:
        model = yaml.safe_load(f)
    print("| name | value (rat default) | unit | bounds | description | source / assumption |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, p in model["parameters"].items():
        prov = ("source: " + p["source"]) if "source" in p else ("assumption: " + p.get("assumption", ""))
        bounds = p.get("bounds")
        b = f"{fmt(bounds[0])}-{fmt(bounds[1])}" if bounds else ""
        print(f"| `{name}` | {fmt(p['value'])} | {cell(p.get('unit', ''))} | {b} | {cell(p.get('description', ''))} | {cell(prov)} |")
    print()
    print("Organism overrides (PK and body weight; pathway parameters are shared):")
    print()
    for name, o in model.get("organisms", {}).items():
        pairs = ", ".join(f"`{k}` {fmt(v)}" for k, v in o.get("parameters", {}).items())
        print(f"- **{name}** ({o.get('description', '')}): {pairs}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/ketamine_stress.yaml")
