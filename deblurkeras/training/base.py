"""What the runner needs from a trainer with one model and one optimizer (SRN, DMPHN, SRResNet)."""


class SingleModelHooks:
    """Runner hooks for trainers holding one model in `self.generator` and one optimizer in `self.optimizer`."""

    def savable_models(self):
        """Models whose weights a checkpoint holds (name -> keras model)."""
        return {"generator": self.generator}

    def optimizers(self):
        """Optimizers whose state a checkpoint holds (name -> optimizer)."""
        return {"optimizer": self.optimizer}

    def build_optimizers(self):
        if not self.optimizer.built:
            self.optimizer.build(self.generator.trainable_variables)
