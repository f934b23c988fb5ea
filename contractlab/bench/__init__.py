"""Ground-truth benchmark datasets: many instances of a family, solved exactly, resumably.

``families.py`` is the family table (generator, options, solver of the row fields);
``dataset.py`` the folder layout, result files, manifest, index and hashes; ``sweep.py`` runs
the instances over local worker processes; ``check.py`` re-verifies a finished dataset. The
command is ``contractlab bench generate`` / ``contractlab bench check`` (``cli/bench.py``).
"""
