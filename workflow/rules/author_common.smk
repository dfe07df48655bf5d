# Input functions of rule author (workflow/rules/author.smk).


def author_story():
    """config author.story, or the demo's story while the demo is on."""
    story = config["author"]["story"]
    if story:
        return story
    if config["demo"]["activate"]:
        return "config/demo_story.md"
    raise WorkflowError("author.story is empty: give the story file (.txt, .md, .csv or .yaml) in the config")


def author_inputs(wildcards):
    model = config["author"]["text_model"]
    inputs = {
        "story": author_story(),
        "segments": paths.SEGMENTS,
        "index": expand(paths.INDEX, episode=INDEX_EPISODES),
        "model": f"{paths.run_dir(config['index']['split'], model, config['index']['seed'])}/model.keras",
    }
    if text_source_of(model):
        inputs["text_source"] = text_source_of(model)
    inputs |= cast_and_names_inputs()  # the cast's names, found in the story
    if os.path.exists(paths.AUTHOR_CHOICES):  # picks made on `dramaemo author --serve`'s page
        inputs["choices"] = paths.AUTHOR_CHOICES
    return inputs
