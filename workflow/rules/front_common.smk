# Input functions and settings of the front half's rules: frames, faces, the dataset and
# the text inputs (frames.smk, faces.smk, dataset.smk, text.smk).
import json
from dramaemo.core.options import BLAZEFACE, detector_options
from dramaemo.core.registry import KUMO_SOURCE


def frames_folder(path):
    """The frame folder of an episode: temporary unless frames.keep is true."""
    return directory(path) if config["frames"]["keep"] else temp(directory(path))


def detect_faces_inputs(wildcards):
    """The episode's frames, and BlazeFace's model when it is the detector (fetch_blazeface)."""
    inputs = {"frames": paths.FRAMES.format(episode=wildcards.episode)}
    if config["faces"]["detector"] == BLAZEFACE:
        inputs["model"] = config["faces"]["blazeface"]["model"]
    return inputs


def label_map_json():
    """label_map as one JSON string: a rule parameter, so editing it reruns the join."""
    return json.dumps(config["label_map"], sort_keys=True)


def skipped_videos_json(skipped=SKIPPED_VIDEOS):
    """The skipped videos (file, reason) as JSON: a parameter of the rule that reports
    them, so a video that is repaired or goes bad reruns it."""
    return json.dumps([{key: r[key] for key in ("episode", "file", "reason")} for r in skipped])


# The stand-in ELMo module is built where the handle points when text.elmo.standin is on.
ELMO_STANDIN_DIR = (
    config["text"]["elmo"]["handle"] if config["text"]["elmo"]["standin"] else "resources/elmo_standin"
)


def glove_file_input():
    """The GloVe text file as an input (none when GloVe comes from the PyPI package)."""
    source = config["text"]["glove"]["source"]
    return [] if source == KUMO_SOURCE else [source]


def elmo_module_input():
    """The ELMo module directory as an input (none for a hub URL)."""
    handle = config["text"]["elmo"]["handle"]
    if config["text"]["elmo"]["standin"] or "://" not in handle:
        return [handle]
    return []


def elmo_handle(wildcards, input):
    """The module folder when it is local (an input, so it travels with the job), else the URL."""
    local = [str(path) for path in input.module] if "module" in input.keys() else []
    return local[0] if local else config["text"]["elmo"]["handle"]
