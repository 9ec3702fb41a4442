from dyntheory.bench.table import main

raise SystemExit(main())
