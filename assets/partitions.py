"""Partitions of the assets: one per exercice (fiscal year) the sources hold.

Dynamic: the ``raw/sources`` asset adds the exercices it finds, so a file of a new
year dropped in the sources folder needs no code change.
"""

import dagster as dg

EXERCICE_PARTITIONS_NAME = "exercice"

exercice_partitions = dg.DynamicPartitionsDefinition(name=EXERCICE_PARTITIONS_NAME)
