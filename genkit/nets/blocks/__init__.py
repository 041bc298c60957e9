"""genkit blocks: layers a spec may name beside Keras's own, one per module.

Importing this package registers every block with `genkit.nets.registry`.
"""

from genkit.nets.blocks.concat_condition import ConcatCondition
from genkit.nets.blocks.label_embedding import LabelEmbedding
from genkit.nets.blocks.sampling import Sampling

__all__ = ["ConcatCondition", "LabelEmbedding", "Sampling"]
