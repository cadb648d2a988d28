import sys

if sys.argv[1:2] == ["faults"]:  # python -m bench faults [...]: stoker under faults (bench/faults/)
    from .faults import main as faults_main

    sys.exit(faults_main(sys.argv[2:]))

from .run import main

sys.exit(main())
