"""Entry point of ``python -m shared.cli``."""

from shared.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
