"""The Lava Processes (process.py) and their ProcessModels (models.py).

They live in a package of their own because Lava's compiler discovers ProcessModels by
executing every module next to a Process's module as a stand-alone file.
"""
