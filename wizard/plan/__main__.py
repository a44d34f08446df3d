"""``python -m wizard.plan > docs/answers.schema.json`` regenerates the committed schema."""

import sys

from wizard.plan.loading import schema_text

sys.stdout.write(schema_text())
