"""The ML itself: schema, validation, features, training, evaluation, gate, drift, ONNX export.

Pure Python with pandas and scikit-learn; nothing here knows about any cloud, and it imports
nothing of ours outside `training`.
"""
