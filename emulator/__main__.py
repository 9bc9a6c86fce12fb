from emulator.tool.launcher import main

raise SystemExit(main())
