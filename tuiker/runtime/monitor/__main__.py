from tuiker.runtime.monitor.main import main

main()
