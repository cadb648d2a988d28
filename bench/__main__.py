import sys

if sys.argv[1:2] == ["faults"]:  # python -m bench faults [...]: stoker under faults (bench/faults/)
    from .faults import main as faults_main

    sys.exit(faults_main(sys.argv[2:]))

if sys.argv[1:2] == ["fleet"]:  # python -m bench fleet [...]: N servers on the real-Heat harness (bench/fleet/)
    from .fleet import main as fleet_main

    sys.exit(fleet_main(sys.argv[2:]))

from .run import main

sys.exit(main())
