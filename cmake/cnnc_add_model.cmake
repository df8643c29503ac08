# cnnc_add_model(<name> SOURCES <model sources...> [INFERENCE_ONLY]): compiles a DSL model at
# build time.
#
# Produces the compiler program <name>_compile (the model's source linked with cnnc's compiler),
# runs it to generate the inference kernels <name>_kernels.a, their plan <name>_plan.c (compiled
# here into <name>_infer.a, run by cnnc_plan) and the training step's kernels
# <name>_train_kernels.a with their plan <name>_train_plan.c and <name>_train_step.h in
# ${CMAKE_BINARY_DIR}/generated/<name>/, and links them into the program bin/<name>
# (subcommands summary, train, eval, infer, bench, export; export runs <name>_compile again for
# the targets it is asked for). INFERENCE_ONLY skips the training step: its compilation is the
# long part for large networks, and `train` then says so.
function(cnnc_add_model name)
    cmake_parse_arguments(ARG "INFERENCE_ONLY" "" "SOURCES" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "cnnc_add_model(${name}): SOURCES is required")
    endif()
    set(gen_dir ${CMAKE_BINARY_DIR}/generated/${name})

    add_executable(${name}_compile ${ARG_SOURCES})
    target_link_libraries(${name}_compile PRIVATE cnnc_compile_main)
    set_target_properties(${name}_compile PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/compilers)

    set(outputs
        ${gen_dir}/${name}_kernels.a ${gen_dir}/${name}_plan.c ${gen_dir}/${name}_infer.h)
    if(ARG_INFERENCE_ONLY)
        set(pipelines infer)
        set(has_train_step 0)
    else()
        set(pipelines all)
        set(has_train_step 1)
        list(APPEND outputs ${gen_dir}/${name}_train_kernels.a ${gen_dir}/${name}_train_plan.c
             ${gen_dir}/${name}_train_step.h)
    endif()
    # Tuned schedule records (`<name> tune`) are part of the input: a new, changed or removed
    # record regenerates (the list file changes only when the set of records does).
    file(GLOB_RECURSE records CONFIGURE_DEPENDS ${CNNC_RECORDS_DIR}/*.txt)
    string(JOIN "\n" record_list ${records})
    file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/generated/records.list CONTENT "${record_list}\n")
    list(APPEND records ${CMAKE_BINARY_DIR}/generated/records.list)
    add_custom_command(
        OUTPUT ${outputs}
        COMMAND ${name}_compile --out-dir ${gen_dir} --target ${CNNC_TARGET}
                --pipelines ${pipelines} --records ${CNNC_RECORDS_DIR}
        DEPENDS ${name}_compile ${records}
        COMMENT "cnnc: compiling model ${name} through Halide (${CNNC_TARGET})"
        VERBATIM)
    add_custom_target(${name}_generated DEPENDS ${outputs})

    add_library(${name}_kernels STATIC IMPORTED GLOBAL)
    set_target_properties(${name}_kernels PROPERTIES IMPORTED_LOCATION ${gen_dir}/${name}_kernels.a)
    add_dependencies(${name}_kernels ${name}_generated)
    # The plan, <gen_dir>/<name>_infer.a; its executor is cnnc_plan (runtime/plan.c).
    add_library(${name}_pipelines STATIC ${gen_dir}/${name}_plan.c)
    set_target_properties(${name}_pipelines PROPERTIES
        PREFIX "" OUTPUT_NAME ${name}_infer ARCHIVE_OUTPUT_DIRECTORY ${gen_dir})
    target_include_directories(${name}_pipelines PRIVATE ${gen_dir} ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name}_pipelines PUBLIC ${name}_kernels cnnc_plan Halide::Runtime)
    set(train_pipeline)
    if(has_train_step)
        add_library(${name}_train_kernels STATIC IMPORTED GLOBAL)
        set_target_properties(${name}_train_kernels PROPERTIES
            IMPORTED_LOCATION ${gen_dir}/${name}_train_kernels.a)
        add_dependencies(${name}_train_kernels ${name}_generated)
        add_library(${name}_train_pipeline STATIC ${gen_dir}/${name}_train_plan.c)
        target_include_directories(${name}_train_pipeline PRIVATE ${gen_dir} ${PROJECT_SOURCE_DIR})
        target_link_libraries(${name}_train_pipeline PUBLIC ${name}_train_kernels ${name}_pipelines)
        set(train_pipeline ${name}_train_pipeline)
    endif()

    set(entry ${gen_dir}/${name}_main.cpp)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/model_main.cpp.in ${entry} @ONLY)
    add_executable(${name} ${ARG_SOURCES} ${entry})
    target_include_directories(${name} PRIVATE ${gen_dir})
    target_link_libraries(${name} PRIVATE cnnc_model_main ${train_pipeline} ${name}_pipelines
                          cnnc_optimizers)
    # `export` runs the model's compiler again, for the targets and batch it is asked for.
    add_dependencies(${name} ${name}_compile)
    target_compile_definitions(${name} PRIVATE
        CNNC_HAS_TRAIN_STEP=${has_train_step}
        CNNC_MODEL_COMPILER="$<TARGET_FILE:${name}_compile>"
        CNNC_RECORDS_DIR="${CNNC_RECORDS_DIR}")
endfunction()
