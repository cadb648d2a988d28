"""HOT templates the real-Heat tests share (read them with `template(name)`)."""
from pathlib import Path

HERE = Path(__file__).resolve().parent


def template(name: str) -> str:
    """The text of tests/heat/templates/<name>.yaml."""
    return (HERE / f"{name}.yaml").read_text()
