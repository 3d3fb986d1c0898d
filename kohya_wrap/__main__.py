"""Allow `python -m kohya_wrap`."""

from kohya_wrap.cli import main

if __name__ == "__main__":
    main()
