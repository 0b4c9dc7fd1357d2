import sys

from bench.scan.run import main

sys.exit(main())
