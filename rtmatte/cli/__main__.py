import sys

from rtmatte.cli.main import main

sys.exit(main())
