"""Lightning training: run configs, the classifier module, data, callbacks and run management."""
