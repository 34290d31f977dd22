"""The suite's results as JUnit XML, for CI systems that show test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from apimw_cli.conformance.results import CheckResult, Outcome


def junit_xml(results: Sequence[CheckResult], url: str) -> bytes:
    """JUnit XML: one testcase per check; failures carry the hint, skips are <skipped/>."""
    suite = ET.Element(
        "testsuite",
        {
            "name": "apimw webhooks test",
            "tests": str(len(results)),
            "failures": str(sum(1 for r in results if r.outcome is Outcome.FAIL)),
            "errors": "0",
            "skipped": str(sum(1 for r in results if r.outcome is Outcome.SKIP)),
            "time": f"{sum(r.seconds for r in results):.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "url", "value": url})
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "apimw.webhooks.test",
                "name": r.check,
                "time": f"{r.seconds:.3f}",
            },
        )
        if r.outcome is Outcome.FAIL:
            failure = ET.SubElement(
                case, "failure", {"message": r.hint or r.detail, "type": r.check}
            )
            failure.text = f"{r.detail}\nstatus: {r.observed or '-'}\nhint: {r.hint or ''}"
        elif r.outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", {"message": r.detail})
        elif r.outcome is Outcome.WARN:
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {r.detail}; {r.hint or ''}"
        else:
            out = ET.SubElement(case, "system-out")
            out.text = r.detail
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
