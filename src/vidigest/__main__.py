from vidigest.cli import main

main()
