"""Only the order gateway can place orders: by construction, and by a lint contract."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cryptosmarttrader.domain.orders import OrderType, Side, TimeInForce
from cryptosmarttrader.exchanges import placement
from cryptosmarttrader.exchanges.placement import (
    ApprovedOrder,
    PlacementForbiddenError,
    claim_issuer_seal,
    require_approved,
)
from cryptosmarttrader.execution import gateway

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "cryptosmarttrader"
ORDER_FIELDS = {
    "client_order_id": "cst0123456789abcde",
    "symbol": "BTC/USDT",
    "side": Side.BUY,
    "order_type": OrderType.LIMIT,
    "time_in_force": TimeInForce.POST_ONLY,
    "qty": 0.001,
    "price": 50_000.0,
    "reduce_only": False,
}


def test_the_gateway_holds_the_only_seal() -> None:
    assert gateway._SEAL is placement._issuer
    with pytest.raises(PlacementForbiddenError):
        claim_issuer_seal()


@pytest.mark.parametrize("seal", [None, object(), "seal"])
def test_an_approved_order_cannot_be_forged(seal: object) -> None:
    with pytest.raises(PlacementForbiddenError):
        ApprovedOrder(seal=seal, **ORDER_FIELDS)  # type: ignore[arg-type]


def test_brokers_refuse_look_alikes_and_objects_built_around_the_constructor() -> None:
    bare = object.__new__(ApprovedOrder)
    with pytest.raises(PlacementForbiddenError):
        require_approved(bare)

    class LookAlike:
        pass

    look_alike = LookAlike()
    look_alike.__dict__.update(ORDER_FIELDS)
    with pytest.raises(PlacementForbiddenError):
        require_approved(look_alike)


def test_approved_orders_are_immutable() -> None:
    order = ApprovedOrder(seal=gateway._SEAL, **ORDER_FIELDS)  # type: ignore[arg-type]
    assert require_approved(order) is order
    with pytest.raises(AttributeError):
        order.qty = 100.0


def _place_calls_outside_the_gateway(package: Path) -> list[str]:
    allowed = {package / "execution" / "gateway.py"}
    found = []
    for path in package.rglob("*.py"):
        if path in allowed or (package / "exchanges") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "place":
                found.append(f"{path.relative_to(package)}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id in {"ApprovedOrder", "_SEAL"}:
                found.append(f"{path.relative_to(package)}:{node.lineno} uses {node.id}")
    return found


def test_no_module_but_the_gateway_calls_place_or_builds_approved_orders() -> None:
    assert _place_calls_outside_the_gateway(PACKAGE) == []


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Zero bypass" in result.stdout
    assert "0 broken" in result.stdout


def test_the_import_contract_catches_a_bypass(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "cryptosmarttrader")
    rogue = tmp_path / "cryptosmarttrader" / "risk" / "rogue.py"
    rogue.write_text("from cryptosmarttrader.exchanges.placement import ApprovedOrder\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Zero bypass" in result.stdout
    assert "BROKEN" in result.stdout
    assert "cryptosmarttrader.risk.rogue" in result.stdout


def test_the_source_scan_catches_a_direct_place_call(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "cryptosmarttrader")
    rogue = tmp_path / "cryptosmarttrader" / "runtime" / "rogue.py"
    rogue.write_text("def sneak(broker, order):\n    return broker.place(order)\n")
    assert _place_calls_outside_the_gateway(tmp_path / "cryptosmarttrader") == [
        "runtime/rogue.py:2"
    ]
