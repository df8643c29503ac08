# cnnc_add_model(<name> SOURCES <model sources...>): compiles a DSL model at build time.
#
# Produces the compiler program <name>_compile (the model's source linked with cnnc's compiler),
# runs it to generate <name>_infer.{a,h} and <name>_train_step.{a,h} in
# ${CMAKE_BINARY_DIR}/generated/<name>/, and links them into the program bin/<name>
# (subcommands summary, train, eval, bench, export).
function(cnnc_add_model name)
    cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "cnnc_add_model(${name}): SOURCES is required")
    endif()
    set(gen_dir ${CMAKE_BINARY_DIR}/generated/${name})

    add_executable(${name}_compile ${ARG_SOURCES})
    target_link_libraries(${name}_compile PRIVATE cnnc_compile_main)
    set_target_properties(${name}_compile PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/compilers)

    set(outputs
        ${gen_dir}/${name}_infer.a ${gen_dir}/${name}_infer.h
        ${gen_dir}/${name}_train_step.a ${gen_dir}/${name}_train_step.h
        ${gen_dir}/${name}_standalone.c ${gen_dir}/${name}.h)
    add_custom_command(
        OUTPUT ${outputs}
        COMMAND ${name}_compile --out-dir ${gen_dir} --target ${CNNC_TARGET}
        DEPENDS ${name}_compile
        COMMENT "cnnc: compiling model ${name} through Halide (${CNNC_TARGET})"
        VERBATIM)
    add_custom_target(${name}_generated DEPENDS ${outputs})

    add_library(${name}_pipelines STATIC IMPORTED GLOBAL)
    set_target_properties(${name}_pipelines PROPERTIES IMPORTED_LOCATION ${gen_dir}/${name}_infer.a)
    add_library(${name}_train_pipeline STATIC IMPORTED GLOBAL)
    set_target_properties(${name}_train_pipeline PROPERTIES
        IMPORTED_LOCATION ${gen_dir}/${name}_train_step.a)
    add_dependencies(${name}_pipelines ${name}_generated)
    add_dependencies(${name}_train_pipeline ${name}_generated)

    # The standalone C API wrapper, compiled once here; `export` adds the weights to it.
    add_library(${name}_standalone OBJECT ${gen_dir}/${name}_standalone.c)
    target_include_directories(${name}_standalone PRIVATE ${gen_dir})
    target_link_libraries(${name}_standalone PRIVATE Halide::Runtime)

    set(entry ${gen_dir}/${name}_main.cpp)
    configure_file(${PROJECT_SOURCE_DIR}/cmake/model_main.cpp.in ${entry} @ONLY)
    add_executable(${name} ${ARG_SOURCES} ${entry})
    target_include_directories(${name} PRIVATE ${gen_dir})
    target_link_libraries(${name} PRIVATE cnnc_model_main ${name}_train_pipeline ${name}_pipelines
                          cnnc_optimizers)
    add_dependencies(${name} ${name}_standalone)
    target_compile_definitions(${name} PRIVATE
        CNNC_GENERATED_DIR="${gen_dir}"
        CNNC_STANDALONE_OBJECT="$<TARGET_OBJECTS:${name}_standalone>"
        CNNC_HALIDE_RUNTIME="$<TARGET_FILE:cnnc_halide_runtime>")
endfunction()
