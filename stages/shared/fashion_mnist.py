"""Fashion-MNIST's facts: its classes, the image shape, its four files and their sizes."""

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)

# The four original files, stored decompressed in data/raw: their bytes, and so dvc.lock, are
# then the same whichever mirror (each gzips differently) they came from.
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
RAW_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
# What each file holds: its items' shape, and at most how many (Fashion-MNIST's own counts).
ITEM_SHAPES = {
    TRAIN_IMAGES: IMAGE_SHAPE,
    TRAIN_LABELS: (),
    TEST_IMAGES: IMAGE_SHAPE,
    TEST_LABELS: (),
}
MAX_ITEMS = {TRAIN_IMAGES: 60_000, TRAIN_LABELS: 60_000, TEST_IMAGES: 10_000, TEST_LABELS: 10_000}
