"""What the tests share that is not a test: imported modules and child scripts.

Child scripts run as `python tests/helpers/<name>.py ...`; tests build that
path from `DIR`.
"""

import os

DIR = os.path.dirname(os.path.abspath(__file__))
